"""Span resolution for the pipeline: TFX's RollingRange, the newest artifact of each span.

``SpanWindowStrategy`` is a TFX ``ResolverStrategy`` (like ``SpanRangeStrategy``, whose RollingRange it
implements) for a ``tfx.dsl.Resolver`` node: from all artifacts of a channel (e.g. every Examples artifact
FaceExampleGen ever produced) it keeps the newest ``num_spans`` spans (0: all) and, per span, only the latest
artifact (highest ``version``, then the newest id). ``SpanRangeStrategy`` keeps every artifact of a span, so a
span extracted twice (a changed extraction config, files replaced in place) would be trained on twice, old
and new crops mixed. TFX's ``rolling_range`` resolver function has these semantics but runs only on the IR
orchestrators (LocalDagRunner), not on the component launchers of ``AirflowDagRunner``; a Resolver node with
a strategy runs on both.

The span is the ``span`` property (set by FaceExampleGen's executor; StatisticsGen copies it to its
statistics) or, for artifacts of older runs, the ``span`` custom property ExampleGen's driver records.
"""
from __future__ import annotations

from typing import Any, Dict, List

from tfx.dsl.components.common import resolver


def span_of(artifact: Any) -> int:
    """The artifact's span: its ``span`` property, else the ``span`` custom property, else 0."""
    props = artifact.mlmd_artifact.properties
    if "span" in props and props["span"].HasField("int_value"):
        return int(props["span"].int_value)
    if artifact.has_custom_property("span"):
        value = artifact.get_custom_property("span")
        return int(value) if value not in (None, "") else 0
    return 0


def version_of(artifact: Any) -> int:
    props = artifact.mlmd_artifact.properties
    if "version" in props and props["version"].HasField("int_value"):
        return int(props["version"].int_value)
    if artifact.has_custom_property("version"):
        return int(artifact.get_custom_property("version") or 0)
    return 0


def latest_per_span(artifacts: List[Any], num_spans: int = 0, skip_newest: int = 0) -> List[Any]:
    """The newest num_spans spans (0: all) after skipping the skip_newest newest ones, one artifact each
    (latest version, then newest id), by span."""
    latest: Dict[int, Any] = {}
    for a in artifacts:
        span = span_of(a)
        if span not in latest or (version_of(a), a.id) > (version_of(latest[span]), latest[span].id):
            latest[span] = a
    spans = sorted(latest)
    if skip_newest > 0:
        spans = spans[:-skip_newest]
    if num_spans > 0:
        spans = spans[-num_spans:]
    return [latest[s] for s in spans]


class SpanWindowStrategy(resolver.ResolverStrategy):
    """RollingRange over spans: ``Resolver(strategy_class=SpanWindowStrategy, config={"num_spans": K,
    "skip_newest": S}, ...)`` (``skip_num_recent_spans`` = S)."""

    def __init__(self, num_spans: int = 0, skip_newest: int = 0):
        self._num_spans = int(num_spans)
        self._skip_newest = int(skip_newest)

    def resolve_artifacts(self, store: Any, input_dict: Dict[str, List[Any]]
                          ) -> Dict[str, List[Any]] | None:
        return {key: latest_per_span(artifacts, self._num_spans, self._skip_newest)
                for key, artifacts in input_dict.items()}
