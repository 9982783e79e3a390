"""SpanWindowStrategy's RollingRange: the newest K spans, one artifact per span (the pipeline runs it in
test_retrain.py: a window of 2 out of 3 spans)."""
from __future__ import annotations

from tfx.types import standard_artifacts

from components.spans import SpanWindowStrategy, latest_per_span, span_of


def _examples(artifact_id: int, span: int, version: int | None = None, custom_only: bool = False):
    a = standard_artifacts.Examples()
    a.mlmd_artifact.id = artifact_id
    if custom_only:  # as ExampleGen's driver records it (runs before the executor set the property)
        a.set_int_custom_property("span", span)
    else:
        a.span = span
    if version is not None:
        a.version = version
    return a


def test_newest_spans_one_artifact_each():
    arts = [_examples(1, 1), _examples(2, 2), _examples(3, 3), _examples(4, 2), _examples(5, 1, version=0)]
    assert [a.id for a in latest_per_span(arts)] == [5, 4, 3]  # span 2 re-extracted later: id 4 wins
    assert [a.id for a in latest_per_span(arts, num_spans=2)] == [4, 3]
    versioned = [_examples(1, 7, version=2), _examples(2, 7, version=1)]
    assert [a.id for a in latest_per_span(versioned)] == [1]  # the higher version, not the newer id
    assert latest_per_span([]) == []


def test_span_from_the_property_or_the_drivers_custom_property():
    assert span_of(_examples(1, 4)) == 4 and span_of(_examples(2, 5, custom_only=True)) == 5
    assert span_of(standard_artifacts.Examples()) == 0


def test_strategy_resolves_every_input_key():
    arts = [_examples(1, 1), _examples(2, 2), _examples(3, 3)]
    out = SpanWindowStrategy(num_spans=1).resolve_artifacts(None, {"examples": arts, "other": []})
    assert [a.id for a in out["examples"]] == [3] and out["other"] == []


def test_skip_newest_gives_the_earlier_spans():
    arts = [_examples(1, 1), _examples(2, 2), _examples(3, 3)]
    assert [a.id for a in latest_per_span(arts, skip_newest=1)] == [1, 2]
    assert [a.id for a in latest_per_span(arts, num_spans=1, skip_newest=1)] == [2]
    assert latest_per_span(arts[:1], skip_newest=1) == []
