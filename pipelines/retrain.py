"""Retrain's decisions (``skyhawk retrain``): is there a new span to run on, and what did a run decide.

The config must have ``use_spans: true`` (videos in ``data_root/span-N/``). The newest span on disk
(``spans.list_spans``, the one span listing: a ``span-*`` folder that is not ``span-N`` is an error) is
compared with the newest span a model was already decided on: the ``eval_span`` the RegistryPusher records
on its PushedModel artifacts in MLMD and in every registry version's ``metadata.json``. ``pending_span``
answers without any TFX work (no TensorFlow or TFX import); ``run_decision`` reads a run's outcome.

Exit codes: 0 a model was pushed; 3 no new span (nothing to do); 4 not pushed (gate, golden set or drift,
or a newest span without a readable video: the reason is given); 5 another retrain of this pipeline root is
running (``retrain`` holds a lock on the pipeline root for the whole decision and run); 1 an error.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Iterator

from skyhawk import datasets, fileio
from skyhawk.fileio.lock import LockHeld, folder_lock
from skyhawk.spans import list_spans

EXIT_PUSHED, EXIT_ERROR, EXIT_NO_NEW_SPAN, EXIT_NOT_PUSHED, EXIT_LOCKED = 0, 1, 3, 4, 5
LOCK_FILE = ".retrain.lock"


@dataclass(frozen=True)
class Decision:
    """What retrain reports: its exit code and the one line that says why."""

    code: int
    message: str
    details: tuple[str, ...] = ()  # what to print after the message (the report, the registry command)


def retrain(cfg: Any, verbose: bool = False) -> Decision:
    """One retrain: under the pipeline root's lock, run the pipeline if a new span arrived; its decision.
    Another retrain holding the lock: EXIT_LOCKED, nothing run. Errors (exit 1) are raised."""
    try:
        with retrain_lock(cfg):
            return _retrain_locked(cfg, verbose)
    except LockHeld as e:
        pid = e.holder.get("pid")
        return Decision(EXIT_LOCKED, f"another retrain holds {e.path}" + (f" (pid {pid} on {e.holder.get('host')}, "
                                     f"since {e.holder.get('since')})" if pid else "") + ": nothing run; try again "
                                     "when it has finished")


@contextlib.contextmanager
def retrain_lock(cfg: Any) -> Iterator[str]:
    """The lock of cfg's pipeline root (``LockHeld`` at once if taken). A remote pipeline root (gs://...) is
    locked on this machine only, by a file in the temp folder named after the root."""
    if fileio.is_remote(cfg.pipeline_root):
        key = hashlib.sha1(cfg.pipeline_root.encode()).hexdigest()[:16]
        with folder_lock(tempfile.gettempdir(), f"skyhawk-retrain-{key}.lock") as path:
            yield path
    else:
        with folder_lock(fileio.local_path(cfg.pipeline_root), LOCK_FILE) as path:
            yield path


def _retrain_locked(cfg: Any, verbose: bool) -> Decision:
    newest, decision = pending_span(cfg)
    if decision is not None:  # nothing to run: no TFX or TensorFlow import
        return decision
    from pipelines.progress import component_progress
    from pipelines.run import run_local

    start = time.monotonic()
    with component_progress(verbose=verbose):
        outcome = run_local(cfg)
    decision = run_decision(cfg, newest, outcome)
    details = ([f"report: {outcome['report']}"] if outcome["report"] else []) + [
        f"registry: skyhawk registry --root {cfg.registry} list {cfg.model_name}",
        f"pipeline: {cfg.pipeline_name} in {time.monotonic() - start:.0f} s"]
    return Decision(decision.code, decision.message, tuple(details))


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
