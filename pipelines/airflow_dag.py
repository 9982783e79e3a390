"""Airflow DAG of the Skyhawk training pipeline: the same ``create_pipeline(config)``, run by TFX's
``AirflowDagRunner`` (one Airflow task per TFX component) on the cron schedule of the config.

    export SKYHAWK_CONFIG=/srv/skyhawk/config.json        # the deployment's config (read at every parse)
    mkdir -p $AIRFLOW_HOME/dags && ln -s $PWD/pipelines/airflow_dag.py $AIRFLOW_HOME/dags/skyhawk_dag.py
    airflow dags test <pipeline_name> 2026-11-30             # one run now, in this process
    airflow scheduler                                        # runs on config["schedule"]

The DAG id is the config's ``pipeline_name``; its schedule is ``schedule`` ("" = triggered runs only). Relative
paths in the config are taken from the config file's folder (the scheduler's working directory is no fixed
place). MLMD stays the config's SQLite ``metadata_path``: Airflow runs and ``skyhawk run`` of one config share
the store (so the latest blessed model) and the registry, not TFX's cache. See docs/scheduling.md.
"""
from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any, Mapping

from skyhawk import env

env.quiet()  # legacy Keras and quiet TF before TFX imports TensorFlow

from pipelines.run import build, load_config  # noqa: E402
from skyhawk.config import PipelineConfig  # noqa: E402

CONFIG_ENV = "SKYHAWK_CONFIG"
# The first date a run may be scheduled for. With catchup off, a new or unpaused DAG runs once for the latest
# interval only, never a backlog of weeks.
START_DATE = datetime(2024, 1, 1, tzinfo=timezone.utc)


def config_from_env(environ: Mapping[str, str] = os.environ) -> PipelineConfig:
    """The config named by $SKYHAWK_CONFIG, relative paths resolved from its folder."""
    path = environ.get(CONFIG_ENV, "")
    if not path:
        raise RuntimeError(f"{CONFIG_ENV} is not set: export {CONFIG_ENV}=/path/to/config.json for the Airflow "
                           "scheduler and workers (see docs/scheduling.md)")
    path = os.path.abspath(path)
    return load_config(path, base=os.path.dirname(path))


def dag_settings(cfg: PipelineConfig) -> dict[str, Any]:
    """The Airflow ``DAG(...)`` arguments of a config."""
    return {
        "schedule": cfg.schedule or None,  # Airflow 2.4+ name (schedule_interval is deprecated)
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,  # runs share one MLMD store, pipeline root and registry
        "tags": ["skyhawk", "tfx"],
        "description": f"Skyhawk training pipeline {cfg.pipeline_name}: extract, validate, train, gate, push",
        "default_args": {"owner": "skyhawk", "retries": 0},
    }


def create_dag(cfg: PipelineConfig):
    """The Airflow DAG of cfg's training pipeline (TFX cache on, MLMD in SQLite at cfg.metadata_path)."""
    # TFX 1.16's Airflow integration works with Airflow 2.10 as is: its PythonOperator import goes through
    # Airflow's deprecated-module alias and its provide_context=True is dropped with a RemovedInAirflow3Warning.
    from tfx.orchestration.airflow.airflow_dag_runner import AirflowDagRunner, AirflowPipelineConfig

    return AirflowDagRunner(AirflowPipelineConfig(airflow_dag_config=dag_settings(cfg))).run(build(cfg))


DAG = create_dag(config_from_env())
