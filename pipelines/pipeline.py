"""The Skyhawk TFX pipeline: videos -> face examples -> validated data -> trained, gated, pushed model.

One ``create_pipeline``; runners (local, Kubeflow/Vertex) live at the edge and only choose where it runs.
"""
from __future__ import annotations

import json
from typing import Sequence

from tfx import v1 as tfx
from tfx.orchestration import pipeline as tfx_pipeline

from components.example_gen import FaceExampleGen
from components.pusher import RegistryPusher
from components.report import RunReport
from pipelines.evaluation import eval_config
from skyhawk.config import ExtractConfig, GateConfig, TrainConfig, to_dict

TRAINER_RUN_FN = "skyhawk_model.trainer.run_fn"


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    data_root: str,
    registry: str,
    model_name: str,
    extract_config: ExtractConfig,
    train_config: TrainConfig,
    gate_config: GateConfig,
    use_spans: bool = False,
    enable_cache: bool = True,
    metadata_connection_config: object | None = None,
    beam_pipeline_args: Sequence[str] | None = None,
    pipeline_config_json: str = "{}",
) -> tfx_pipeline.Pipeline:
    """FaceExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Trainer -> Resolver(latest
    blessed) -> Evaluator (accuracy floor + no regression) -> RegistryPusher -> RunReport."""
    example_gen = FaceExampleGen(data_root, extract_config, use_spans=use_spans)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    trainer = tfx.components.Trainer(
        run_fn=TRAINER_RUN_FN,
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config={"train": to_dict(train_config), "extract": to_dict(extract_config)},
    )
    model_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"],
        eval_config=eval_config(gate_config, train_config.threshold),
        example_splits=["eval"],
    )
    pusher = RegistryPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        evaluation=evaluator.outputs["evaluation"],
        examples=example_gen.outputs["examples"],
        registry=registry,
        model_name=model_name,
        pipeline_config=pipeline_config_json,
    )
    report = RunReport(
        model=trainer.outputs["model"],
        evaluation=evaluator.outputs["evaluation"],
        model_blessing=evaluator.outputs["blessing"],
        pushed_model=pusher.outputs["pushed_model"],
        examples=example_gen.outputs["examples"],
    )
    components = [example_gen, statistics_gen, schema_gen, example_validator, trainer, model_resolver,
                  evaluator, pusher, report]
    return tfx_pipeline.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args or []),
    )


def config_json(config) -> str:
    """The pipeline config as stable JSON (recorded with each pushed model)."""
    return json.dumps(to_dict(config), sort_keys=True)
