"""Beam runner profiles (skyhawk.runners) in the config and the CLI: flags, and early one-line errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.main import main
from skyhawk.config import ConfigError, load
from skyhawk.runners import RunnerError, beam_args_for, runner_args

DATAFLOW = ["--project=p", "--region=europe-west4", "--temp_location=gs://b/tmp"]


def test_profiles_add_the_runner_and_need_their_flags():
    assert runner_args("direct", ["--direct_num_workers=2"]) == ["--direct_num_workers=2"]
    assert runner_args("direct", ["--runner=PortableRunner", "--job_endpoint=h:1"])[0] == "--runner=PortableRunner"
    assert runner_args("dataflow", DATAFLOW) == ["--runner=DataflowRunner", *DATAFLOW]
    assert runner_args("portable", ["--job_endpoint=h:8099"]) == ["--runner=PortableRunner", "--job_endpoint=h:8099"]
    assert runner_args("flink", ["--runner=FlinkRunner", "--flink_master=h:8081"]) == [
        "--runner=FlinkRunner", "--flink_master=h:8081"]
    with pytest.raises(RunnerError, match=r"needs --region=\.\.\., --temp_location=\.\.\."):
        runner_args("dataflow", ["--project=p"])
    with pytest.raises(RunnerError, match="needs --spark_master_url"):
        runner_args("spark", [])
    with pytest.raises(RunnerError, match="contradicts"):
        runner_args("flink", ["--runner=DataflowRunner", "--flink_master=h:1"])
    with pytest.raises(RunnerError, match="unknown runner"):
        runner_args("ray", [])


def test_config_profile_is_checked_at_load_time():
    cfg = load(overrides={"runner": "dataflow", "beam_args": DATAFLOW})
    assert cfg.beam_pipeline_args() == ["--runner=DataflowRunner", *DATAFLOW]
    with pytest.raises(ConfigError, match="runner: the portable runner needs --job_endpoint"):
        load(overrides={"runner": "portable", "beam_args": []})


def test_cli_refuses_a_profile_without_its_flags_before_work(tmp_path: Path, capsys):
    code = main(["score", "--input", str(tmp_path), "--model", str(tmp_path / "nowhere"), "--output",
                 str(tmp_path / "o"), "--runner", "dataflow", "--beam-arg=--project=p"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err == "skyhawk score: error: the dataflow runner needs --region=..., --temp_location=..."
    assert not (tmp_path / "o").exists()


def test_workers_map_to_direct_runner_modes():
    assert beam_args_for(1) == ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    # 0: one worker per core, threads up to THREADS_UP_TO_CORES cores (measured faster there), else processes
    assert beam_args_for(0, cores=2) == ["--direct_running_mode=multi_threading", "--direct_num_workers=2"]
    assert beam_args_for(0, cores=8) == ["--direct_running_mode=multi_processing", "--direct_num_workers=8"]
    assert beam_args_for(0, cores=8, threads=True)[0] == "--direct_running_mode=multi_threading"
    assert beam_args_for(0, cores=1) == ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    assert beam_args_for(2, threads=True) == ["--direct_running_mode=multi_threading", "--direct_num_workers=2"]
    assert beam_args_for(1, threads=True)[0] == "--direct_running_mode=in_memory"  # one worker: no pool
    assert beam_args_for(2, ["--direct_num_workers=3"])[-1] == "--direct_num_workers=3"  # raw flags win
