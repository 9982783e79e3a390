"""The scoring pipeline under TFX's LocalDagRunner: Importer(registry version) -> BatchScorer, with lineage."""
from __future__ import annotations

import json
from pathlib import Path

from components.score.component import ScoringResults
from skyhawk.config import PipelineConfig, ScoreConfig

pytest_plugins = ["score_model"]

VIDEO = "real_videos/AliaksandrSiarohin__first-order-model__demo_old__00.mp4"


def test_scoring_pipeline_links_results_to_the_registry_model(test_model, shared_media: Path, tmp_path: Path):
    from tfx import v1 as tfx
    from tfx.orchestration import metadata

    from pipelines.run import scoring_pipeline

    src = tmp_path / "videos"
    src.mkdir()
    (src / "a.mp4").symlink_to(shared_media / VIDEO)
    (src / "broken.mp4").write_text("not a video")
    cfg = PipelineConfig(pipeline_name="score-test", pipeline_root=str(tmp_path / "root"),
                         metadata_path=str(tmp_path / "mlmd.sqlite"), registry=test_model.registry,
                         model_name=test_model.name,
                         beam_args=("--direct_running_mode=in_memory", "--direct_num_workers=1"),
                         score=ScoreConfig(frames=4))  # the config's score section sets the scoring pipeline
    tfx.orchestration.LocalDagRunner().run(scoring_pipeline(cfg, str(src)))

    with metadata.Metadata(metadata.sqlite_metadata_connection_config(cfg.metadata_path)) as m:
        (results,) = m.store.get_artifacts_by_type(ScoringResults.TYPE_NAME)
        (model,) = m.store.get_artifacts_by_type("Model")
        events = m.store.get_events_by_artifact_ids([results.id])
        execution_id = events[0].execution_id
        inputs = [e.artifact_id for e in m.store.get_events_by_execution_ids([execution_id]) if e.type == e.INPUT]
    assert inputs == [model.id]
    assert model.uri == str(Path(test_model.registry) / test_model.name / "2")
    assert model.custom_properties["registry_model"].string_value == f"{test_model.name}/2"
    assert results.custom_properties["model"].string_value == f"{test_model.name}/2"
    assert results.custom_properties["videos"].int_value == 2
    rows = [json.loads(line) for line in Path(results.uri, "results.jsonl").read_text().splitlines()]
    assert {Path(r["uri"]).name: r["status"] for r in rows} == {"a.mp4": "ok", "broken.mp4": "failed"}
    assert all(r["model"] == f"{test_model.name}/2" for r in rows)
