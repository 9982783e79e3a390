"""Config values are checked against the dataclass field types and ranges when a config is built (issue 9,
item 9); the files it names are checked once, before a run starts, naming the key (issue 17, item 8)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from skyhawk import fileio
from skyhawk.config import (
    ConfigError,
    ExtractConfig,
    PipelineConfig,
    ScoreConfig,
    TrainConfig,
    check_inputs,
    from_dict,
    load,
    replace,
)

pytest_plugins = ["gcs"]  # tests/gcs.py: gcs_emulator, gcs_prefix (a real fake-gcs-server process)


@pytest.mark.parametrize("data, message", [
    ({"train": {"batch_size": "80"}}, "train.batch_size must be an integer, got '80' (str)"),
    ({"train": {"augment": "false"}}, "train.augment must be true or false, got 'false' (str)"),
    ({"train": {"max_epochs": 2.5}}, "train.max_epochs must be an integer, got 2.5 (float)"),
    ({"train": {"learning_rate": -0.001}}, "train.learning_rate must be > 0, got -0.001"),
    ({"train": {"decay_rate": 0}}, "train.decay_rate must be in (0, 1], got 0.0"),
    ({"train": {"steps_per_epoch": -1}}, "train.steps_per_epoch must be >= 0, got -1"),
    ({"train": {"dropout": None}}, "train.dropout must be a number, got None (NoneType)"),
    ({"extract": {"eval_fraction": "0.2"}}, "extract.eval_fraction must be a number, got '0.2' (str)"),
    ({"extract": {"frames_per_video": True}}, "extract.frames_per_video must be an integer, got True (bool)"),
    ({"extract": {"allow_outside_root": 1}}, "extract.allow_outside_root must be true or false, got 1 (int)"),
    ({"gate": {"max_regression": -1}}, "gate.max_regression must be >= 0, got -1.0"),
    ({"gate": {"video_level": "yes"}}, "gate.video_level must be true or false"),
    ({"beam_args": "--direct_num_workers=1"}, "beam_args must be a list of strings, got '--direct_num_workers=1'"),
    ({"beam_args": ["direct_num_workers=1"]}, "beam_args must be flags like --runner=..., got 'direct_num_workers=1'"),
    ({"model_name": "../evil"}, "model_name must be letters, digits, '.', '_', '-' (no path), got '../evil'"),
    ({"model_name": "m\n"}, "model_name must be letters"),
    ({"pipeline_name": "a/b"}, "pipeline_name must be letters"),
    ({"registry": 3}, "registry must be a string, got 3 (int)"),
    ({"train": []}, "train must be an object, got list"),
])
def test_bad_values_name_their_key(data: dict, message: str):
    with pytest.raises(ConfigError) as e:
        from_dict(PipelineConfig, data)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_good_values_load_and_coerce(tmp_path: Path):
    weights = tmp_path / "w.h5"
    weights.write_bytes(b"x")
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"beam_args": ["--runner=DirectRunner"], "model_name": "m-1.v2",
                                "train": {"learning_rate": 1, "weights": str(weights), "augment": False}}))
    cfg = load(str(path))
    assert cfg.train.learning_rate == 1.0 and isinstance(cfg.train.learning_rate, float)
    assert cfg.beam_args == ("--runner=DirectRunner",) and cfg.train.augment is False
    ckpt = tmp_path / "ckpt"
    (tmp_path / "ckpt.index").write_bytes(b"x")  # a TF checkpoint prefix counts as a weights file
    check_inputs(PipelineConfig(data_root=str(tmp_path), train=TrainConfig(weights=str(ckpt))))
    with pytest.raises(ConfigError, match="config file not found"):
        load(str(tmp_path / "missing.json"))


def test_programmatic_configs_are_checked_too():
    with pytest.raises(ConfigError, match="margin must be a number"):
        replace(ExtractConfig(), margin="1.3")
    with pytest.raises(ConfigError, match="beam_args must be a list of strings"):
        PipelineConfig(beam_args="--x")
    with pytest.raises(ConfigError, match="batch_size must be >= 1"):  # a plain dataclasses.replace too
        dataclasses.replace(TrainConfig(), batch_size=0)
    with pytest.raises(ConfigError, match="extract.image_size"):
        dataclasses.replace(PipelineConfig(), extract=ExtractConfig(image_size=96))


def test_paths_are_made_absolute_once_when_loading(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load(None, {"data_root": "v", "extract.labels": "csv:v/m.csv", "gate.golden_root": "g"}, base="/base")
    assert cfg.data_root == "/base/v" and cfg.extract.labels == "csv:/base/v/m.csv"
    assert cfg.gate.golden_root == "/base/g" and cfg.registry == "/base/out/registry"
    assert load(None, {"train.weights": "w.h5"}, base="/base").train.weights == "/base/w.h5"
    assert load(None, {"data_root": "v"}).data_root == str(tmp_path / "v")  # default base: the working dir
    spans = load(None, {"use_spans": True, "extract.labels": "csv:m.csv"}, base="/base")
    assert spans.extract.labels == "csv:m.csv"  # each span folder has its own manifest


def _inputs(tmp_path: Path) -> dict:
    """Overrides naming inputs that exist."""
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "m.csv").write_text("path,label\n")
    (tmp_path / "golden").mkdir()
    (tmp_path / "golden" / "g.csv").write_text("path,label\n")
    (tmp_path / "w.h5").write_bytes(b"x")
    return {"data_root": "videos", "extract.labels": "csv:videos/m.csv", "gate.golden_root": "golden",
            "gate.golden_labels": "csv:golden/g.csv", "train.weights": "w.h5"}


@pytest.mark.parametrize("key, value, message", [
    ("data_root", "nope", "config: data_root: no such folder: {tmp}/nope"),
    ("extract.labels", "csv:videos/missing.csv", "config: extract.labels: no such file: {tmp}/videos/missing.csv"),
    ("gate.golden_root", "nope", "config: gate.golden_root: no such folder: {tmp}/nope"),
    ("gate.golden_labels", "csv:g.csv", "config: gate.golden_labels: no such file: {tmp}/g.csv"),
    ("train.weights", "{tmp}/none.h5", "config: train.weights: no such file: {tmp}/none.h5"),
    ("extract.labels", "folders:sub=real;csv:gone.csv", "config: extract.labels: no such file: {tmp}/videos/gone.csv"),
])
def test_missing_inputs_are_found_before_a_run_naming_the_key(tmp_path: Path, key: str, value: str, message: str):
    overrides = _inputs(tmp_path)
    check_inputs(load(None, overrides, base=str(tmp_path)))  # all there: passes
    cfg = load(None, {**overrides, key: value.format(tmp=tmp_path)}, base=str(tmp_path))  # loading never looks
    with pytest.raises(ConfigError) as e:
        check_inputs(cfg)
    assert str(e.value).startswith(message.format(tmp=tmp_path)) and "\n" not in str(e.value)


@pytest.mark.parametrize("key, value, message", [
    ("data_root", "nope", "config: data_root: no such folder"),
    ("extract.labels", "csv:videos/missing.csv", "config: extract.labels: no such file"),
])
def test_a_run_with_a_missing_input_stops_before_tfx_starts(tmp_path: Path, key: str, value: str, message: str):
    """pipelines.run.run_local (what `skyhawk run`, `demo` and `retrain` call) checks before TFX: no MLMD store,
    so no failed execution is left behind."""
    from pipelines.run import run_local

    cfg = load(None, {**_inputs(tmp_path), "train.weights": "none", key: value, "metadata_path": "m/mlmd.sqlite",
                      "pipeline_root": "root"}, base=str(tmp_path))
    with pytest.raises(ConfigError, match=message):
        run_local(cfg)
    assert not (tmp_path / "m").exists() and not (tmp_path / "root").exists()


@pytest.mark.parametrize("data, message", [
    ({"score": {"frames": 0}}, "score.frames must be >= 1, got 0"),
    ({"score": {"aggregate": "max"}}, "score.aggregate must be one of mean, confident, got 'max'"),
    ({"score": {"threshold": 1.5}}, "score.threshold must be in (0, 1) (0: the model's own), got 1.5"),
    ({"score": {"output_format": "xml"}}, "score.output_format must be one of jsonl, csv, parquet, got 'xml'"),
    ({"score": {"flush_every": 0}}, "score.flush_every must be >= 1, got 0"),
    ({"extract": {"image_size": 96}, "train": {"image_size": 128}},
     "train.image_size (128) must equal extract.image_size (96): set extract.image_size only, train's follows it"),
])
def test_the_score_section_and_the_one_image_size_are_checked_in_one_line(tmp_path: Path, data: dict, message: str):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as e:
        load(str(path))
    assert str(e.value) == message


def test_one_default_per_setting_and_derived_keys(tmp_path: Path):
    """Scoring's and extraction's frame count is one default; train.image_size follows extract.image_size and
    score.frames follows extract.frames_per_video unless a file sets them (old files setting both still load)."""
    assert ScoreConfig().frames == ExtractConfig().frames_per_video == ScoreConfig.frames
    assert TrainConfig().image_size == ExtractConfig().image_size
    cfg = load(None, {"extract.image_size": 128, "extract.frames_per_video": 4})
    assert (cfg.train.image_size, cfg.score.frames) == (128, 4)
    assert load(None, {"extract.frames_per_video": 4, "score.frames": 16}).score.frames == 16
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"extract": {"image_size": 96}, "train": {"image_size": 96}}))
    assert load(str(old)).train.image_size == 96
    assert load(None).score == ScoreConfig()


def _gcs_inputs(prefix: str, tmp_path: Path) -> dict:
    """Overrides naming gs:// inputs that exist (the data root stays local)."""
    (tmp_path / "videos").mkdir()
    fileio.write_text(f"{prefix}/golden/g.csv", "path,label\n")
    fileio.write_text(f"{prefix}/w.h5", "x")
    return {"data_root": str(tmp_path / "videos"), "gate.golden_root": f"{prefix}/golden",
            "gate.golden_labels": f"csv:{prefix}/golden/g.csv", "train.weights": f"{prefix}/w.h5"}


@pytest.mark.parametrize("key, value, message", [
    ("gate.golden_root", "{prefix}/nope", "config: gate.golden_root: no such folder: {prefix}/nope"),
    ("gate.golden_labels", "csv:{prefix}/golden/gone.csv",
     "config: gate.golden_labels: no such file: {prefix}/golden/gone.csv"),
    ("train.weights", "{prefix}/none.h5", "config: train.weights: no such file: {prefix}/none.h5"),
])
def test_gs_inputs_are_checked_before_a_run_like_local_ones(gcs_prefix: str, tmp_path: Path, key: str, value: str,
                                                             message: str):
    """#26.7: a gs:// golden set or weights file (a real GCS emulator) is checked before any component runs,
    with the one-line error of a missing local path (test_missing_inputs_are_found_before_a_run_naming_the_key)."""
    from pipelines.run import run_local

    overrides = {**_gcs_inputs(gcs_prefix, tmp_path), "metadata_path": "m/mlmd.sqlite", "pipeline_root": "root"}
    check_inputs(load(None, overrides, base=str(tmp_path)))  # all there: passes
    cfg = load(None, {**overrides, key: value.format(prefix=gcs_prefix)}, base=str(tmp_path))
    with pytest.raises(ConfigError) as e:
        run_local(cfg)
    assert str(e.value).split(" (")[0] == message.format(prefix=gcs_prefix)
    assert not (tmp_path / "m").exists() and not (tmp_path / "root").exists()


SCORING_MODULES = ("components/score", "components/golden.py", "pipelines/scoring_pipeline.py", "pipelines/run.py",
                   "pipelines/commands/score.py", "pipelines/commands/options.py")
SCORING_PARAMETERS = {"frames", "faces_per_video", "aggregate", "fmt", "output_format", "threshold", "batch_size",
                      "flush_every"}


def test_scoring_defaults_are_written_only_in_the_score_section():
    """#26.5: a scoring function or component takes its defaults from ``ScoreConfig`` (or none): a literal default
    of a scoring parameter (``frames: int = 32``) is a second place for it."""
    import ast

    repo = Path(__file__).resolve().parents[1]
    literal = []
    for name in SCORING_MODULES:
        for path in sorted((repo / name).rglob("*.py")) if (repo / name).is_dir() else [repo / name]:
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    args = node.args.posonlyargs + node.args.args
                    pairs = list(zip(args[len(args) - len(node.args.defaults):], node.args.defaults, strict=True))
                    pairs += [(a, d) for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True)
                              if d is not None]
                    literal += [f"{path.relative_to(repo)}:{d.lineno} {a.arg}={d.value!r}" for a, d in pairs
                                if a.arg in SCORING_PARAMETERS and isinstance(d, ast.Constant) and d.value is not None]
    assert not literal, literal
