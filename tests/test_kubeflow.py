"""The same pipelines compiled for Kubeflow Pipelines v2 / Vertex AI (TFX's KubeflowV2DagRunner)."""
from __future__ import annotations

import json
from pathlib import Path

from pipelines.main import main

pytest_plugins = ["score_model"]

IMAGE = "europe-docker.pkg.dev/my-project/skyhawk/pipeline:1"
BEAM = ["--runner=DataflowRunner", "--project=my-project", "--region=europe-west4",
        "--temp_location=gs://my-bucket/tmp", f"--sdk_container_image={IMAGE}"]
TRAINING = ["FileBasedExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Trainer", "Evaluator",
            "RegistryPusher", "RunReport"]


def _config(tmp_path: Path, **extra) -> Path:
    cfg = {"pipeline_name": "skyhawk-vertex", "data_root": "gs://my-bucket/videos",
           "pipeline_root": "gs://my-bucket/pipeline", "registry": "gs://my-bucket/registry",
           "model_name": "skyhawk", "beam_args": BEAM, **extra}
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(cfg))
    return path


def _containers(spec: dict) -> dict[str, dict]:
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    return {name.removesuffix("_executor"): e["container"] for name, e in executors.items() if "container" in e}


def test_training_pipeline_compiles_with_image_beam_args_and_root(tmp_path: Path, capsys):
    out = tmp_path / "spec" / "pipeline.json"
    assert main(["compile", "--config", str(_config(tmp_path)), "--image", IMAGE, "--output", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    spec = json.loads(out.read_text())
    assert spec["runtimeConfig"]["gcsOutputDirectory"] == "gs://my-bucket/pipeline"
    assert spec["pipelineSpec"]["pipelineInfo"]["name"] == "skyhawk-vertex"
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    assert set(TRAINING) <= set(tasks) and any("blessed" in t for t in tasks)
    containers = _containers(spec)
    assert set(TRAINING) <= set(containers)
    for name in TRAINING:
        assert containers[name]["image"] == IMAGE, name
    assert "components.example_gen.Executor" in containers["FileBasedExampleGen"]["args"]
    for beam_component in ("FileBasedExampleGen", "StatisticsGen", "Evaluator"):
        assert all(flag in containers[beam_component]["args"] for flag in BEAM), beam_component
    custom = json.dumps(tasks["RegistryPusher"]) + json.dumps(tasks["FileBasedExampleGen"])
    assert "gs://my-bucket/registry" in custom and "gs://my-bucket/videos" in custom
    splits = json.dumps(tasks["FileBasedExampleGen"]["inputs"]["parameters"]["output_config"])
    assert "train" in splits and "eval" in splits and "test" not in splits


def test_scoring_pipeline_compiles(test_model, tmp_path: Path):
    out = tmp_path / "scoring.json"
    cfg = _config(tmp_path, registry=test_model.registry, model_name=test_model.name)
    assert main(["compile", "--config", str(cfg), "--image", IMAGE, "--output", str(out),
                 "--scoring-input", "gs://my-bucket/archive", "--allow-local"]) == 0  # a local registry
    spec = json.loads(out.read_text())
    containers = _containers(spec)
    assert containers["BatchScorer"]["image"] == IMAGE and all(f in containers["BatchScorer"]["args"] for f in BEAM)
    importer = spec["pipelineSpec"]["deploymentSpec"]["executors"]["registry_model_executor"]["importer"]
    assert json.dumps(importer).count(str(Path(test_model.registry) / test_model.name / "2")) >= 1
    assert "gs://my-bucket/archive" in json.dumps(spec["pipelineSpec"]["root"]["dag"]["tasks"]["BatchScorer"])


def test_compile_needs_an_image(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.delenv("SKYHAWK_IMAGE", raising=False)
    assert main(["compile", "--config", str(_config(tmp_path)), "--output", str(tmp_path / "x.json")]) == 1
    assert "a pipeline image is needed" in capsys.readouterr().err


def test_local_manifests_of_a_joined_label_spec_are_named():
    """Every manifest of a ';'-joined spec is found by skyhawk.labels' one rule, local ones refused."""
    from pipelines.kubeflow_v2_runner import local_paths
    from skyhawk.config import load

    remote = {"data_root": "gs://b/d", "pipeline_root": "gs://b/p", "registry": "gs://b/r"}
    joined = load(None, {**remote, "extract.labels": "folders:real=real;csv:/home/me/labels.csv"})
    assert local_paths(joined) == {"extract.labels": "/home/me/labels.csv"}
    assert local_paths(load(None, {**remote, "extract.labels": "folders:real=real;csv:labels.csv"})) == {}
    assert local_paths(load(None, {**remote, "extract.labels": "csv:gs://b/l.csv"})) == {}
