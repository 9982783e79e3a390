"""The Skyhawk TFX pipeline: videos -> face examples -> validated data -> trained, gated, pushed model.

One ``create_pipeline(config)``; runners (local, Kubeflow/Vertex) live at the edge and only choose where
it runs and where its metadata lives.
"""
from __future__ import annotations

import json
from typing import Sequence

from tfx import v1 as tfx
from tfx.orchestration import pipeline as tfx_pipeline

from components.example_gen import FaceExampleGen
from components.pusher import RegistryPusher
from components.report import RunReport
from skyhawk.config import PipelineConfig, to_dict
from skyhawk_model.evaluation import eval_config

TRAINER_RUN_FN = "skyhawk_model.trainer.run_fn"


def create_pipeline(
    config: PipelineConfig,
    enable_cache: bool = True,
    metadata_connection_config: object | None = None,
    split_names: Sequence[str] | None = None,
) -> tfx_pipeline.Pipeline:
    """FaceExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Trainer -> Resolver(latest
    blessed) -> Evaluator (accuracy floor + no regression) -> RegistryPusher -> RunReport.

    ``split_names``: the example splits to declare; default: those the data needs, read when the pipeline
    is built (a compiler far from the data, e.g. for Kubeflow, names them instead)."""
    config = config.validate()
    example_gen = FaceExampleGen(config.data_root, config.extract, use_spans=config.use_spans,
                                 split_names=split_names)
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
        custom_config={"train": to_dict(config.train), "extract": to_dict(config.extract)},
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
        eval_config=eval_config(config.gate, config.train.threshold),
        example_splits=["eval"],
    )
    pusher = RegistryPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        evaluation=evaluator.outputs["evaluation"],
        examples=example_gen.outputs["examples"],
        registry=config.registry,
        model_name=config.model_name,
        pipeline_config=json.dumps(to_dict(config), sort_keys=True),  # recorded with each pushed model
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
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=config.beam_pipeline_args(),
    )
