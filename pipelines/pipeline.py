"""The Skyhawk TFX pipeline: videos (the newest span) -> face examples -> validated data (schema, drift vs the
previous span) -> model trained on a window of spans -> gated (new span, golden set) -> pushed model.

One ``create_pipeline(config)``; runners (local, Kubeflow/Vertex) live at the edge and only choose where
it runs and where its metadata lives.
"""
from __future__ import annotations

import json
from typing import Sequence

from tfx import v1 as tfx
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.types.standard_artifacts import Examples, ExampleStatistics

from components.confound import ConfoundCheck
from components.drift import DriftValidator
from components.example_gen import FaceExampleGen
from components.golden import GoldenGate
from components.pusher import RegistryPusher
from components.report import RunReport
from components.spans import SpanWindowStrategy
from skyhawk.config import PipelineConfig, to_dict
from skyhawk_model.evaluation import eval_config

TRAINER_RUN_FN = "skyhawk_model.trainer.run_fn"
GOLDEN_GATE_ID = "GoldenGate"  # its ModelBlessing is the one the latest-blessed-model resolver reads


def create_pipeline(
    config: PipelineConfig,
    enable_cache: bool = True,
    metadata_connection_config: object | None = None,
    split_names: Sequence[str] | None = None,
    span_resolvers: bool = True,
) -> tfx_pipeline.Pipeline:
    """FaceExampleGen (newest span) -> StatisticsGen -> SchemaGen -> ExampleValidator + DriftValidator (vs the
    previous span) + ConfoundCheck (fails the run when capture facts predict the label) -> Trainer (window of
    spans; warm start from the latest blessed model) -> Evaluator (newest span's eval split: accuracy floor + no
    regression) -> GoldenGate (golden set, drift) -> RegistryPusher -> RunReport.

    ``split_names``: the example splits to declare; default: those the data needs, read when the pipeline
    is built (a compiler far from the data, e.g. for Kubeflow, names them instead). ``span_resolvers=False``
    trains on the newest span only and skips the drift comparison (Kubeflow Pipelines v2 compiles only TFX's
    two built-in resolver strategies)."""
    example_gen = FaceExampleGen(config.data_root, config.extract, use_spans=config.use_spans,
                                 split_names=split_names)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    training_examples, earlier_examples, statistics_history = example_gen.outputs["examples"], None, None
    resolvers = []
    if span_resolvers:
        # A component must not get one artifact on two inputs (the legacy launchers AirflowDagRunner uses record
        # an input event per artifact and input), hence the windows without the newest span for the consumers
        # that also read this run's Examples / statistics.
        def window(node_id: str, key: str, channel, upstream, num_spans: int, skip_newest: int):
            node = tfx.dsl.Resolver(strategy_class=SpanWindowStrategy,
                                    config={"num_spans": num_spans, "skip_newest": skip_newest},
                                    **{key: channel}).with_id(node_id)
            node.add_upstream_node(upstream)  # after this run's component
            resolvers.append(node)
            return node.outputs[key]

        examples_channel = tfx.dsl.Channel(type=Examples, producer_component_id=example_gen.id)
        # RollingRange: the newest train.span_window spans (0: all), the latest Examples of each span
        training_examples = window("span_window_resolver", "examples", examples_channel, example_gen,
                                   config.train.span_window, 0)
        if config.train.span_window != 1:  # the window's other spans, for the lineage
            earlier_examples = window("earlier_spans_resolver", "examples", examples_channel, example_gen,
                                      max(config.train.span_window - 1, 0), 1)
        # the earlier spans' statistics: DriftValidator compares the newest span with the one before it
        statistics_history = window(
            "span_statistics_resolver", "statistics",
            tfx.dsl.Channel(type=ExampleStatistics, producer_component_id=statistics_gen.id), statistics_gen, 0, 1)
    drift = DriftValidator(statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"],
                           statistics_history=statistics_history, linf_threshold=config.gate.drift_linf,
                           jsd_threshold=config.gate.drift_jsd)
    confound = ConfoundCheck(examples=example_gen.outputs["examples"], training_examples=earlier_examples,
                             confound_warn=config.gate.confound_warn,
                             confound_fail=config.gate.confound_fail, margin=config.extract.margin)
    model_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        # GoldenGate's blessing: the Evaluator's gate and the golden set (and drift, when it blocks)
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing,
                                       producer_component_id=GOLDEN_GATE_ID),
    ).with_id("latest_blessed_model_resolver")
    trainer = tfx.components.Trainer(
        run_fn=TRAINER_RUN_FN,
        examples=training_examples,
        schema=schema_gen.outputs["schema"],
        base_model=model_resolver.outputs["model"] if config.train.warm_start else None,
        train_args=tfx.proto.TrainArgs(splits=["train"]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config={"train": to_dict(config.train), "extract": to_dict(config.extract)},
    )
    trainer.add_upstream_node(confound)  # a set that fails the confound audit is never trained on
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"],
        eval_config=eval_config(config.gate, config.train.threshold),
        example_splits=["eval"],
    )
    golden = GoldenGate(
        model=trainer.outputs["model"],
        evaluator_blessing=evaluator.outputs["blessing"],
        baseline_model=model_resolver.outputs["model"],
        drift=drift.outputs["drift"],
        golden_root=config.gate.golden_root,
        golden_labels=config.gate.golden_labels,
        max_regression=config.gate.max_regression,
        block_on_drift=int(config.gate.block_on_drift),
        frames=config.score.frames,  # follows extract.frames_per_video unless the config sets it (config.load)
        aggregate=config.score.aggregate,
        threshold=config.score.threshold,
        beam_args=json.dumps(config.beam_pipeline_args()),
    ).with_id(GOLDEN_GATE_ID)
    pusher = RegistryPusher(
        model=trainer.outputs["model"],
        model_blessing=golden.outputs["final_blessing"],
        evaluation=evaluator.outputs["evaluation"],
        examples=example_gen.outputs["examples"],
        training_examples=earlier_examples,
        registry=config.registry,
        model_name=config.model_name,
        pipeline_config=json.dumps(to_dict(config), sort_keys=True),  # recorded with each pushed model
    )
    report = RunReport(
        model=trainer.outputs["model"],
        evaluation=evaluator.outputs["evaluation"],
        model_blessing=golden.outputs["final_blessing"],
        pushed_model=pusher.outputs["pushed_model"],
        examples=example_gen.outputs["examples"],
        training_examples=earlier_examples,
        drift=drift.outputs["drift"],
        confound=confound.outputs["confound"],
    )
    components = [example_gen, statistics_gen, schema_gen, example_validator, *resolvers, drift, confound,
                  model_resolver, trainer, evaluator, golden, pusher, report]
    return tfx_pipeline.Pipeline(
        pipeline_name=config.pipeline_name,
        pipeline_root=config.pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=config.beam_pipeline_args(),
    )
