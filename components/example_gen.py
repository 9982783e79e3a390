"""FaceExampleGen: a TFX ExampleGen over videos whose Beam executor writes face-crop tf.Examples.

It is a ``FileBasedExampleGen`` with a custom ``BaseExampleGenExecutor``, so spans (``{SPAN}`` in the
input pattern), versions, input fingerprints and the ``Split-<name>/`` layout all come from TFX.

- ``input_base``: the video root; the single input split's pattern names the folder of one span
  (``*`` for the root itself, ``span-{SPAN}/*`` for span folders).
- Splits are assigned per group (source video / identity) by ``skyhawk.splits.assign_splits``, never
  by frame. The output splits are derived from the data by ``datasets.output_splits`` (train, eval, and
  test when the dataset forces videos there: FF++ ``splits/test.json``, Celeb-DF's test list, a DFDC
  ``metadata.json`` or CSV ``split`` column), the same rule ``skyhawk extract`` uses. They are declared
  when the component is built (TFX fixes them then); a run whose data needs a split the component did
  not declare fails with a clear message instead of moving those videos elsewhere.
- A run that yields no face for train or eval fails (``extract.check_result``).
- The per-video extraction report (every input video: ok / no_face / failed + reason) is written to
  ``<examples uri>/extraction_report.jsonl`` and its summary to ``summary.json`` beside the splits.
"""
from __future__ import annotations

import json
import logging
import posixpath
from typing import Any, Sequence

import apache_beam as beam
from google.protobuf import any_pb2, wrappers_pb2
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components import extract
from skyhawk import datasets, fileio
from skyhawk.config import ExtractConfig, from_dict, replace, to_dict
from skyhawk.labels import LabelSpec
from skyhawk.spans import list_spans

SPAN_PATTERN = "span-{SPAN}/*"
SPAN_KEY, VERSION_KEY = "span", "version"  # tfx.components.example_gen.utils.{SPAN,VERSION}_PROPERTY_NAME


def span_labels(config: ExtractConfig, root: str) -> ExtractConfig:
    """Relative manifests are read from the span's own folder (root): ``LabelSpec.resolve`` with spans."""
    spec = LabelSpec.parse(config.labels)
    resolved = spec.resolve(root, spans=True)
    return config if resolved == spec else replace(config, labels=str(resolved))


def pack_config(config: ExtractConfig) -> example_gen_pb2.CustomConfig:
    """ExtractConfig -> ExampleGen CustomConfig (JSON in a StringValue)."""
    payload = any_pb2.Any()
    payload.Pack(wrappers_pb2.StringValue(value=json.dumps(to_dict(config), sort_keys=True)))
    return example_gen_pb2.CustomConfig(custom_config=payload)


def unpack_config(exec_properties: dict[str, Any]) -> ExtractConfig:
    """The ExtractConfig stored by ``pack_config`` in exec_properties (defaults when absent)."""
    raw = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    if not raw:
        return ExtractConfig()
    custom = example_gen_pb2.CustomConfig()
    proto_utils.json_to_proto(raw, custom)
    value = wrappers_pb2.StringValue()
    custom.custom_config.Unpack(value)
    return from_dict(ExtractConfig, json.loads(value.value))


def video_root(input_base: str, pattern: str) -> str:
    """The folder of videos an input split pattern points at (``*`` -> input_base)."""
    folder = posixpath.dirname(pattern) if pattern.endswith("*") else pattern
    return fileio.join(input_base, folder) if folder else input_base


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """Videos -> sampled frames -> dlib faces -> face-crop tf.Examples, split by group."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        raise NotImplementedError("FaceExampleGen overrides GenerateExamplesByBeam")

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        self._examples_uri = examples.uri
        super().Do(input_dict, output_dict, exec_properties)
        extract.check_result(extract.write_summary(self._examples_uri), self._examples_uri)
        # The driver records span/version as custom properties; TFX's span resolver functions
        # (rolling_range / LatestSpan), StatisticsGen (which copies it) and components.spans read the properties.
        examples.span = int(exec_properties.get(SPAN_KEY) or 0)
        examples.version = int(exec_properties.get(VERSION_KEY) or 0)

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline, exec_properties: dict[str, Any]
                               ) -> dict[str, beam.pvalue.PCollection]:
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
        if len(input_config.splits) != 1:
            raise ValueError("FaceExampleGen takes exactly one input split (the video folder)")
        root = video_root(exec_properties[standard_component_specs.INPUT_BASE_KEY], input_config.splits[0].pattern)
        root = root.replace("{SPAN}", str(exec_properties.get(SPAN_KEY) or 0))
        config = span_labels(unpack_config(exec_properties), root)
        items = extract.prepare_items(root, config)
        declared = [s.name for s in output_config.split_config.splits]
        missing = [s for s in extract.output_split_names(items) if s not in declared]
        if missing:
            raise extract.ExtractionError(
                f"the data under {root} has videos for the {', '.join(missing)} split, but this FaceExampleGen "
                f"declares only {', '.join(declared)} (it was built before that data existed): rebuild the pipeline")
        result = pipeline | "Videos" >> beam.Create(items) | "Extract" >> extract.ExtractFaces(config)
        _ = result["report"] | "Report" >> extract.WriteReport(fileio.join(self._examples_uri, extract.REPORT_FILE))
        return result["examples"] | "Split" >> extract.PartitionBySplit(declared)


def output_config(split_names: Sequence[str]) -> example_gen_pb2.Output:
    """Declares the output splits (hash buckets are unused: splits are assigned by group)."""
    return example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
        splits=[example_gen_pb2.SplitConfig.Split(name=n, hash_buckets=1) for n in split_names]))


def data_splits(input_base: str, config: ExtractConfig, use_spans: bool = False) -> list[str]:
    """The output splits of the videos under input_base (its latest span-N/ folder with use_spans).

    ``datasets.output_splits`` of the labelled items; train and eval alone when there is no readable
    data yet (the executor then refuses data that needs another split).
    """
    root = input_base
    if use_spans:
        spans = list_spans(input_base)
        if not spans:
            return [datasets.TRAIN, datasets.EVAL]
        root = fileio.join(input_base, f"span-{max(spans)}")
        config = span_labels(config, root)
    if not fileio.isdir(root):
        return [datasets.TRAIN, datasets.EVAL]
    try:
        return datasets.output_splits(datasets.discover(root, config.labels, config.allow_outside_root))
    except datasets.LabelError as e:  # e.g. the manifest is written later: the run reports it again
        logging.getLogger(__name__).warning("FaceExampleGen: cannot read the data yet (%s); declaring train, eval", e)
        return [datasets.TRAIN, datasets.EVAL]


def FaceExampleGen(input_base: str, config: ExtractConfig, use_spans: bool = False,
                   split_names: Sequence[str] | None = None) -> FileBasedExampleGen:
    """The face ExampleGen component over the videos under input_base.

    With use_spans, videos live in ``input_base/span-N/`` folders and the latest span is read.
    split_names defaults to the splits the data needs (``data_splits``): train, eval, plus test when
    the dataset forces videos into a test split.
    """
    names = list(split_names or data_splits(input_base, config, use_spans))
    return FileBasedExampleGen(
        input_base=input_base,
        input_config=example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name="videos", pattern=SPAN_PATTERN if use_spans else "*")]),
        output_config=output_config(names),
        custom_config=pack_config(config),
        custom_executor_spec=executor_spec.BeamExecutorSpec(Executor),
    )
