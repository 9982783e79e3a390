"""Build and run the Skyhawk pipeline from a PipelineConfig (local engine; MLMD in SQLite)."""
from __future__ import annotations

import os
from typing import Any

from skyhawk import config, fileio
from skyhawk.config import DEMO_CONFIG, PipelineConfig, packaged_config  # noqa: F401  (re-exported)
from skyhawk.labels import LabelSpec


def load_config(path: str | None = None, overrides: dict[str, Any] | None = None,
                base: str | None = None) -> PipelineConfig:
    """A config file (default: the packaged demo config) with overrides, paths made absolute (``config.load``)."""
    return config.load(path or packaged_config(), overrides, base)


def demo_config(output: str, overrides: dict[str, Any] | None = None) -> PipelineConfig:
    """The demo config with all its paths under output/."""
    return load_config(packaged_config(), {
        "data_root": "videos", "pipeline_root": "pipeline", "metadata_path": "metadata.sqlite",
        "registry": "registry", "extract.labels": "csv:videos/manifest.csv", **(overrides or {}),
    }, base=output)


def ensure_demo_data(cfg: PipelineConfig, seed: int = 0) -> None:
    """Generates the offline demo videos at cfg.data_root unless they are already there."""
    from skyhawk.demo import make_demo_data

    manifest = LabelSpec.parse(cfg.extract.labels).lone_manifest
    if manifest and not os.path.exists(manifest):
        make_demo_data(cfg.data_root, seed=seed)


def build(cfg: PipelineConfig, enable_cache: bool = True):
    """The TFX pipeline for a config, with MLMD in SQLite at cfg.metadata_path."""
    from tfx.orchestration import metadata

    from pipelines.pipeline import create_pipeline

    fileio.makedirs(os.path.dirname(cfg.metadata_path))
    return create_pipeline(cfg, enable_cache=enable_cache,
                           metadata_connection_config=metadata.sqlite_metadata_connection_config(cfg.metadata_path))


def run_local(cfg: PipelineConfig, enable_cache: bool = True) -> dict[str, Any]:
    """Runs the pipeline with LocalDagRunner; returns what the run produced (see ``latest_outputs``).

    Its inputs are checked first (``config.check_inputs``): a missing data_root, manifest or weights file is one
    ConfigError naming the key, before TFX starts or MLMD records anything. A full disk met by a component is
    one ``OSError`` ENOSPC naming cfg.pipeline_root (``fileio.disk_full_names``); an unreadable examples file is one
    ``ExamplesDamaged`` naming it (``examples_check``)."""
    config.check_inputs(cfg)
    from tfx import v1 as tfx

    from pipelines.examples_check import damaged_examples_named

    with fileio.disk_full_names(cfg.pipeline_root), damaged_examples_named(cfg):
        tfx.orchestration.LocalDagRunner().run(build(cfg, enable_cache))
    return latest_outputs(cfg)


def latest_outputs(cfg: PipelineConfig) -> dict[str, Any]:
    """The newest PushedModel decision and report of this pipeline, read from MLMD (``reason``: why a model
    was not pushed, from the pusher's NOT_PUSHED.json)."""

    from tfx.orchestration import metadata

    from components.pusher import NOT_PUSHED_FILE
    from components.report import SkyhawkReport
    from components.report_page import HTML_FILE

    out: dict[str, Any] = {"pushed": None, "version": None, "report": None, "pushed_model_uri": None,
                           "reason": None, "spans": None, "eval_span": None}
    with metadata.Metadata(metadata.sqlite_metadata_connection_config(cfg.metadata_path)) as m:
        pushed = sorted(m.store.get_artifacts_by_type("PushedModel"), key=lambda a: a.id)
        if pushed:
            props = pushed[-1].custom_properties
            out["pushed"] = bool(props["pushed"].int_value) if "pushed" in props else None
            out["version"] = props["pushed_version"].int_value if "pushed_version" in props else None
            out["pushed_model_uri"] = pushed[-1].uri
            out["eval_span"] = props["eval_span"].int_value if "eval_span" in props else None
            out["spans"] = props["spans"].string_value if "spans" in props else None
            if out["pushed"] is False and fileio.exists(fileio.join(pushed[-1].uri, NOT_PUSHED_FILE)):
                failures = fileio.read_json(fileio.join(pushed[-1].uri, NOT_PUSHED_FILE))
                out["reason"] = "; ".join(failures.get("gate_failures") or []) or "not blessed"
        reports = sorted(m.store.get_artifacts_by_type(SkyhawkReport.TYPE_NAME), key=lambda a: a.id)
        if reports:
            out["report"] = os.path.join(reports[-1].uri, HTML_FILE)
    return out


def scoring_pipeline(cfg: PipelineConfig, input_uri: str, model_ref: str | None = None):
    """The scoring pipeline of a config: its registry model (or model_ref) over input_uri with its ``score``
    settings, MLMD shared."""
    from tfx.orchestration import metadata

    from pipelines.scoring_pipeline import create_scoring_pipeline

    fileio.makedirs(os.path.dirname(cfg.metadata_path))
    return create_scoring_pipeline(
        pipeline_name=f"{cfg.pipeline_name}-scoring",
        pipeline_root=cfg.pipeline_root,
        model_ref=model_ref or f"{cfg.registry.rstrip('/')}/{cfg.model_name}",
        input_uri=input_uri,
        score=cfg.score,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(cfg.metadata_path),
        beam_pipeline_args=cfg.beam_pipeline_args(),
    )
