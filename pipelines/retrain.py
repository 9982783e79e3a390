"""Retrain's decisions (``skyhawk retrain``): is there a new span to run on, and what did a run decide.

The config must have ``use_spans: true`` (videos in ``data_root/span-N/``). The newest span on disk
(``spans.list_spans``, the one span listing: a ``span-*`` folder that is not ``span-N`` is an error) is
compared with the newest span a model was already decided on: the ``eval_span`` the RegistryPusher records
on its PushedModel artifacts in MLMD and in every registry version's ``metadata.json``. ``pending_span``
answers without any TFX work (no TensorFlow or TFX import); ``run_decision`` reads a run's outcome.

Exit codes: 0 a model was pushed; 3 no new span (nothing to do); 4 not pushed (gate, golden set or drift,
or a newest span without a readable video: the reason is given); 1 an error (bad config, failed run).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from skyhawk import datasets, fileio
from skyhawk.spans import list_spans

EXIT_PUSHED, EXIT_ERROR, EXIT_NO_NEW_SPAN, EXIT_NOT_PUSHED = 0, 1, 3, 4


@dataclass(frozen=True)
class Decision:
    """What retrain reports: its exit code and the one line that says why."""

    code: int
    message: str


def pending_span(cfg: Any) -> tuple[int, Decision | None]:
    """(the newest span, None) when the pipeline should run on it, else (span, the decision without a run).

    ValueError (exit 1) without use_spans, without any span folder, or with a ``span-*`` folder that is no span.
    """
    if not cfg.use_spans:
        raise ValueError("retrain needs use_spans: true (videos in data_root/span-N/ folders)")
    spans = list_spans(cfg.data_root)
    if not spans:
        raise ValueError(f"no span-N/ folder under {cfg.data_root}")
    newest = spans[-1]
    decided = decided_spans(cfg)
    if decided and newest <= max(decided):
        last = max(decided)
        return newest, Decision(EXIT_NO_NEW_SPAN, f"no new span: span-{newest} is the newest under {cfg.data_root}; "
                                                  f"span-{last} already has a decision ({decided[last]})")
    root = fileio.join(cfg.data_root, f"span-{newest}")
    if not has_readable_media(root):
        return newest, Decision(EXIT_NOT_PUSHED, f"span-{newest}: nothing trained, nothing pushed: no readable "
                                                 f"video or photo under {root}")
    return newest, None


def has_readable_media(root: str) -> bool:
    """Whether a video or photo under root can be read (an empty or all-unreadable span has none)."""
    return any(datasets.is_media(p) and (fileio.is_remote(p) or os.access(p, os.R_OK))
               for p in fileio.list_files(root))


def run_decision(cfg: Any, newest: int, outcome: dict[str, Any]) -> Decision:
    """The decision of a pipeline run on span ``newest`` from its outcome (``pipelines.run.latest_outputs``);
    a push decision about another span (TFX ran on an older one) is not this span's: not pushed."""
    spans = outcome.get("spans") or "?"
    judged = outcome.get("eval_span")
    if judged is not None and judged != newest:
        return Decision(EXIT_NOT_PUSHED, f"span-{newest}: nothing pushed: the run's newest decision is about "
                                         f"span-{judged} (spans {spans}), not span-{newest}")
    if outcome.get("pushed"):
        return Decision(EXIT_PUSHED, f"span-{newest}: model pushed: {cfg.registry}/{cfg.model_name}/"
                                     f"{outcome['version']} (trained on spans {spans})")
    return Decision(EXIT_NOT_PUSHED, f"span-{newest}: model NOT pushed (trained on spans {spans}): "
                                     f"{outcome.get('reason') or 'not blessed'}")


def decided_spans(cfg: Any) -> dict[int, str]:
    """{eval span: what happened to its model} over this pipeline's MLMD store and the registry."""
    out: dict[int, str] = {}
    for version in _registry_versions(cfg):
        span = version.get("eval_span", (version.get("data") or {}).get("eval_span"))
        if isinstance(span, int):
            out[span] = f"pushed as version {version['version']}"
    if not os.path.exists(cfg.metadata_path):
        return out
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    conn = metadata_store_pb2.ConnectionConfig()
    conn.sqlite.filename_uri = cfg.metadata_path
    conn.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(conn)
    context = store.get_context_by_type_and_name("pipeline", cfg.pipeline_name)
    if context is None:
        return out
    pushed_type = store.get_artifact_type("PushedModel") if _has_type(store, "PushedModel") else None
    if pushed_type is None:
        return out
    for artifact in store.get_artifacts_by_context(context.id):
        props = artifact.custom_properties
        if artifact.type_id != pushed_type.id or "eval_span" not in props:
            continue
        span = props["eval_span"].int_value
        if "pushed" in props and props["pushed"].int_value:
            version = props["pushed_version"].int_value if "pushed_version" in props else "?"
            out[span] = f"pushed as version {version}"
        else:
            out.setdefault(span, "rejected")
    return out


def _has_type(store: Any, name: str) -> bool:
    return any(t.name == name for t in store.get_artifact_types())


def _registry_versions(cfg: Any) -> list[dict[str, Any]]:
    from skyhawk.registry import Registry, RegistryError

    try:
        reg = Registry(cfg.registry)
        return reg.versions(cfg.model_name) if reg.exists() and cfg.model_name in reg.models() else []
    except RegistryError:
        return []
