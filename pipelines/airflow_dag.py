"""Airflow DAG of the Skyhawk training pipeline: two light tasks that run ``skyhawk retrain``'s entry point
(``pipelines.retrain.retrain``) on the cron schedule of the config.

    export SKYHAWK_CONFIG=/srv/skyhawk/config.json        # the deployment's config (read at every parse)
    mkdir -p $AIRFLOW_HOME/dags && ln -s $PWD/pipelines/airflow_dag.py $AIRFLOW_HOME/dags/skyhawk_dag.py
    airflow dags test <pipeline_name> 2026-11-30             # one run now, in this process
    airflow scheduler                                        # runs on config["schedule"]

The DAG id is the config's ``pipeline_name``; its schedule is ``schedule`` ("" = triggered runs only). Relative
paths in the config are taken from the config file's folder (the scheduler's working directory is no fixed
place). Parsing this file imports neither TFX nor TensorFlow (the scheduler re-parses it every 30 s, under
a 30 s import timeout): ``new_span`` lists the spans (skipping the run when there is no new one) and
``retrain`` imports TFX inside the task and runs the whole pipeline with the local engine, under the pipeline
root's lock, like ``skyhawk retrain``. MLMD stays the config's SQLite ``metadata_path``: Airflow runs and
``skyhawk run`` of one config share the store, the cache and the registry. See docs/scheduling.md.
"""
from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from typing import Any, Mapping

from airflow import DAG as AirflowDAG
from airflow.exceptions import AirflowException, AirflowSkipException
from airflow.operators.python import PythonOperator

from skyhawk import config, env

env.quiet()  # legacy Keras and quiet TF for the task that imports TFX

CONFIG_ENV = "SKYHAWK_CONFIG"
# The first date a run may be scheduled for. With catchup off, a new or unpaused DAG runs once for the latest
# interval only, never a backlog of weeks.
START_DATE = datetime(2024, 1, 1, tzinfo=timezone.utc)
logger = logging.getLogger(__name__)


def config_from_env(environ: Mapping[str, str] = os.environ) -> config.PipelineConfig:
    """The config named by $SKYHAWK_CONFIG, relative paths resolved from its folder."""
    path = environ.get(CONFIG_ENV, "")
    if not path:
        raise RuntimeError(f"{CONFIG_ENV} is not set: export {CONFIG_ENV}=/path/to/config.json for the Airflow "
                           "scheduler and workers (see docs/scheduling.md)")
    path = os.path.abspath(path)
    return config.load(path, base=os.path.dirname(path))


def dag_settings(cfg: config.PipelineConfig) -> dict[str, Any]:
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


def new_span() -> int:
    """Task ``new_span``: the span to train on; skipped (and so is ``retrain``) when there is no new one."""
    from pipelines.retrain import pending_span

    newest, decision = pending_span(config_from_env())
    if decision is not None:
        raise AirflowSkipException(decision.message)
    logger.info("span-%d is new: retraining", newest)
    return newest


def retrain() -> int:
    """Task ``retrain``: ``skyhawk retrain``'s entry point (TFX imported here, per-component progress in the
    task log); a pushed or a rejected candidate succeeds, no new span is a skip, anything else fails."""
    from pipelines.retrain import EXIT_NO_NEW_SPAN, EXIT_NOT_PUSHED, EXIT_PUSHED
    from pipelines.retrain import retrain as run

    decision = run(config_from_env(), verbose=True)
    for line in (decision.message, *decision.details):
        logger.info("%s", line)
    if decision.code == EXIT_NO_NEW_SPAN:
        raise AirflowSkipException(decision.message)
    if decision.code not in (EXIT_PUSHED, EXIT_NOT_PUSHED):
        raise AirflowException(decision.message)
    return decision.code


def create_dag(cfg: config.PipelineConfig) -> AirflowDAG:
    """The Airflow DAG of cfg's training pipeline: ``new_span`` >> ``retrain``."""
    with AirflowDAG(cfg.pipeline_name, **dag_settings(cfg)) as dag:
        PythonOperator(task_id="new_span", python_callable=new_span) >> PythonOperator(
            task_id="retrain", python_callable=retrain)
    return dag


DAG = create_dag(config_from_env())
