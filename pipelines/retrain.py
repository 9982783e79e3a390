"""``skyhawk retrain --config FILE``: run the pipeline only when a new span has arrived; print the decision.

The config must have ``use_spans: true`` (videos in ``data_root/span-N/``). The newest span on disk is
compared with the newest span a model was already decided on (blessed and pushed, or rejected): the
``eval_span`` the RegistryPusher records on its PushedModel artifacts in MLMD and in every registry
version's ``metadata.json``. If no span is newer, one line is printed and the command exits with
``EXIT_NO_NEW_SPAN`` without starting any TFX work (no TensorFlow or TFX import). Otherwise the pipeline
runs (``pipelines.run.run_local``) and the decision is printed.

Exit codes: 0 a model was pushed; 3 no new span (nothing to do); 4 the candidate was not pushed (gate,
golden set or drift; the reason is printed); 1 an error (bad config, failed run).
"""
from __future__ import annotations

import argparse
import os
import time
from typing import Any

EXIT_PUSHED, EXIT_ERROR, EXIT_NO_NEW_SPAN, EXIT_NOT_PUSHED = 0, 1, 3, 4


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("retrain", help="run the pipeline if a new data span arrived (exit 3: nothing new)",
                       description="Runs the pipeline when data_root has a span-N/ newer than the newest span a "
                                   "model was decided on; exit codes: 0 pushed, 3 no new span, 4 not pushed, "
                                   "1 error. See docs/retraining.md.")
    p.add_argument("--config", required=True, help="pipeline config JSON (with use_spans: true)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.span_window=4 (repeatable)")
    p.set_defaults(func=retrain)


def spans_on_disk(data_root: str) -> list[int]:
    """The span numbers of data_root/span-N/ folders, ascending (without Beam, TFX or TensorFlow)."""
    from skyhawk import datasets, fileio

    if fileio.is_remote(data_root):
        return datasets.list_spans(data_root)
    if not os.path.isdir(data_root):  # local: one directory listing, not a walk of every video
        return []
    return sorted(int(m[1]) for name in os.listdir(data_root)
                  if (m := datasets.SPAN_RE.fullmatch(name)) and os.path.isdir(os.path.join(data_root, name)))


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


def retrain(args: argparse.Namespace) -> int:
    from pipelines.cli import _parse_set
    from pipelines.run import load_config

    cfg = load_config(args.config, _parse_set(args.set))
    if not cfg.use_spans:
        raise ValueError("retrain needs use_spans: true (videos in data_root/span-N/ folders)")
    spans = spans_on_disk(cfg.data_root)
    if not spans:
        raise ValueError(f"no span-N/ folder under {cfg.data_root}")
    newest = spans[-1]
    decided = decided_spans(cfg)
    if decided and newest <= max(decided):
        last = max(decided)
        print(f"no new span: span-{newest} is the newest under {cfg.data_root}; span-{last} already has a "
              f"decision ({decided[last]})")
        return EXIT_NO_NEW_SPAN
    return _run(cfg, newest, verbose=getattr(args, "verbose", False))


def _run(cfg: Any, newest: int, verbose: bool) -> int:
    from pipelines.progress import component_progress
    from pipelines.run import run_local

    start = time.monotonic()
    with component_progress(verbose=verbose):
        outcome = run_local(cfg)
    spans = outcome.get("spans") or "?"
    if outcome["pushed"]:
        print(f"span-{newest}: model pushed: {cfg.registry}/{cfg.model_name}/{outcome['version']} "
              f"(trained on spans {spans})")
        code = EXIT_PUSHED
    else:
        print(f"span-{newest}: model NOT pushed (trained on spans {spans}): {outcome.get('reason') or 'not blessed'}")
        code = EXIT_NOT_PUSHED
    if outcome["report"]:
        print(f"report: {outcome['report']}")
    print(f"registry: skyhawk registry --root {cfg.registry} list {cfg.model_name}")
    print(f"pipeline: {cfg.pipeline_name} in {time.monotonic() - start:.0f} s")
    return code
