"""Beam transforms: labelled videos -> sampled frames -> dlib faces -> face-crop tf.Examples + a report.

The same transforms run inside the TFX ExampleGen executor (``components.example_gen``) and in the
standalone ``skyhawk extract`` pipeline (``run_extraction``). DoFns hold no local state beyond their
(picklable) config; detectors are loaded in ``setup()`` so they run on remote Beam workers.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import replace
from typing import Any, Iterable, Iterator, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics

from skyhawk import features, labels
from skyhawk.config import ExtractConfig, from_dict, to_dict
from skyhawk.labels import VideoItem

NAMESPACE = "skyhawk"
REPORT_TAG = "report"
REPORT_FILE = "extraction_report.jsonl"
SUMMARY_FILE = "summary.json"
OK, NO_FACE, FAILED = "ok", "no_face", "failed"

_log = logging.getLogger(__name__)


class ExtractFacesFn(beam.DoFn):
    """VideoItem -> (split, serialized tf.Example) per face; a report record per video on REPORT_TAG."""

    def __init__(self, config: dict[str, Any], progress: bool = False):
        self._config_dict = dict(config)
        self._progress = progress
        self._videos = {s: Metrics.counter(NAMESPACE, f"videos_{s}") for s in (OK, NO_FACE, FAILED)}
        self._frames = Metrics.counter(NAMESPACE, "frames_sampled")
        self._faces = Metrics.counter(NAMESPACE, "faces_written")
        self._fakes = Metrics.counter(NAMESPACE, "synthetic_faces_written")

    def setup(self) -> None:
        from skyhawk.faces import FaceDetector

        self._cfg = from_dict(ExtractConfig, self._config_dict)
        self._detector = FaceDetector(self._cfg.detector, self._cfg.detect_size)
        self._landmarks = None
        if self._cfg.synthesize != "none":
            from skyhawk.faces import LandmarkPredictor

            self._landmarks = LandmarkPredictor()

    def process(self, item: VideoItem) -> Iterator[Any]:
        start = time.monotonic()
        rec = {
            "uri": item.uri, "video_id": item.video_id, "group_id": item.group_id, "label": item.label,
            "split": item.split, "method": item.method, "status": FAILED, "reason": item.error,
            "frames_sampled": 0, "frames_with_face": 0, "faces_written": 0, "synthetic_faces_written": 0,
        }
        out: list[tuple[str, bytes]] = []
        if not item.error:
            try:
                self._extract(item, rec, out)
                rec["status"] = OK if rec["faces_written"] else NO_FACE
                if not rec["faces_written"]:
                    rec["reason"] = f"no face found in {rec['frames_sampled']} sampled frames"
            except Exception as e:  # one bad video never stops the run: it is reported
                from skyhawk.video import VideoError

                out.clear()
                rec["reason"] = str(e) if isinstance(e, VideoError) else f"{type(e).__name__}: {e}"
                for k in ("faces_written", "synthetic_faces_written"):
                    rec[k] = 0
        rec["seconds"] = round(time.monotonic() - start, 3)
        self._videos[rec["status"]].inc()
        self._frames.inc(rec["frames_sampled"])
        self._faces.inc(rec["faces_written"])
        self._fakes.inc(rec["synthetic_faces_written"])
        if self._progress:
            print(f"skyhawk extract: {rec['status']:7s} {item.video_id} faces={rec['faces_written']} "
                  f"{rec['seconds']:.1f}s {rec['reason']}", file=sys.stderr, flush=True)
        yield from out
        yield beam.pvalue.TaggedOutput(REPORT_TAG, rec)

    def _extract(self, item: VideoItem, rec: dict, out: list[tuple[str, bytes]]) -> None:
        from skyhawk.faces import crop_face, sample_faces
        from skyhawk.video import local_copy

        cfg = self._cfg
        synth, donor = self._synthesizer(item)
        with local_copy(item.uri) as path:
            for sampled in sample_faces(path, cfg, self._detector):
                rec["frames_sampled"] += 1
                rec["frames_with_face"] += bool(sampled.faces)
                for face_index, (face, crop) in enumerate(zip(sampled.faces, sampled.crops, strict=True)):
                    out.append(self._example(item, crop, sampled.index, face_index, face, item.label, item.method))
                    rec["faces_written"] += 1
                    if synth is not None:
                        fake = self._synthesize(synth, sampled.frame, face, donor)
                        if fake is not None:
                            crop = crop_face(fake, face.box(), cfg.margin, cfg.image_size)
                            fake_item = replace(item, video_id=f"{item.video_id}#{synth.method}")
                            out.append(self._example(fake_item, crop, sampled.index, face_index, face,
                                                     features.FAKE, synth.method))
                            rec["synthetic_faces_written"] += 1

    def _synthesizer(self, item: VideoItem):
        """(synthesizer, donor) for a real video when synthesis is on, else (None, None).

        A swap takes its source face from the item's donor video (another identity's real video,
        chosen by ``prepare_items``); a donor without a face fails this video's synthesis loudly.
        """
        if self._cfg.synthesize == "none" or item.label != features.REAL:
            return None, None
        from skyhawk.synth import SynthError, donor_from_image, make_synthesizer
        from skyhawk.video import iter_sampled_frames, local_copy

        synth = make_synthesizer(self._cfg.synthesize, self._cfg.synth_seed, item.video_id)
        if self._cfg.synthesize != "swap":
            return synth, None
        if not item.donor:
            raise SynthError("face swap needs a donor video of another identity; none available")
        with local_copy(item.donor) as path:
            for _, frame in iter_sampled_frames(path, 8):
                try:
                    return synth, donor_from_image(frame, self._detector, self._landmarks)
                except SynthError:
                    continue
        raise SynthError(f"donor video has no face: {item.donor}")

    def _synthesize(self, synth, frame, face, donor):
        from skyhawk.synth import SynthError

        try:
            return synth(frame, self._landmarks(frame, face), donor)[0]
        except SynthError as e:
            _log.info("synthesis skipped a frame: %s", e)
            return None

    def _example(self, item: VideoItem, crop, frame_index: int, face_index: int, face, label: int,
                 method: str) -> tuple[str, bytes]:
        from skyhawk.faces import encode_jpeg

        rec = features.FaceRecord(
            jpeg=encode_jpeg(crop, self._cfg.jpeg_quality), label=label, video_id=item.video_id,
            group_id=item.group_id, frame_index=frame_index, face_index=face_index, box=face.box(),
            detector_score=face.score, source_uri=item.uri, method=method,
        )
        return item.split, features.to_example(rec).SerializeToString()


class ExtractFaces(beam.PTransform):
    """PCollection[VideoItem] -> {'examples': (split, bytes), 'report': dict}."""

    def __init__(self, config: ExtractConfig, progress: bool = False):
        super().__init__()
        self._config = config.validate()
        self._progress = progress

    def expand(self, items):
        results = (
            items
            | "Distribute" >> beam.Reshuffle()
            | "ExtractFaces" >> beam.ParDo(ExtractFacesFn(to_dict(self._config), self._progress)).with_outputs(
                REPORT_TAG, main="examples")
        )
        return {"examples": results.examples, "report": results[REPORT_TAG]}


class PartitionBySplit(beam.PTransform):
    """(split, record) -> {split: PCollection[record]} for the given split names."""

    def __init__(self, split_names: Sequence[str]):
        super().__init__()
        self._names = list(split_names)

    def expand(self, pairs):
        names = self._names

        def index(pair: tuple[str, bytes], n: int) -> int:
            return names.index(pair[0]) if pair[0] in names else names.index(labels.EVAL)

        parts = pairs | "BySplit" >> beam.Partition(index, len(names))
        return {name: parts[i] | f"Records[{name}]" >> beam.Values() for i, name in enumerate(names)}


class WriteReport(beam.PTransform):
    """Writes report records as one JSON-lines file at path."""

    def __init__(self, path: str):
        super().__init__()
        self._path = path

    def expand(self, records):
        return (
            records
            | "ToJson" >> beam.Map(lambda r: json.dumps(r, sort_keys=True))
            | "Write" >> beam.io.WriteToText(self._path, shard_name_template="")
        )


def prepare_items(root: str, config: ExtractConfig) -> list[VideoItem]:
    """Discovers, labels and splits the videos under root (driver side; cheap, no decoding)."""
    items = labels.assign_splits(labels.discover(root, config.labels), config.eval_fraction, config.split_seed)
    return labels.assign_donors(items) if config.synthesize == "swap" else items


def output_split_names(items: Iterable[VideoItem]) -> list[str]:
    """train and eval always; test when the data defines one."""
    return [labels.TRAIN, labels.EVAL] + ([labels.TEST] if labels.TEST in labels.split_names(items) else [])


def run_extraction(input_root: str, output_dir: str, config: ExtractConfig,
                   beam_args: Sequence[str] | None = None, progress: bool = False) -> dict[str, Any]:
    """Standalone Beam pipeline: videos under input_root -> output_dir/Split-*/ TFRecords + report.

    The layout is the one TFX ExampleGen writes, so the output can be imported as Examples.
    Returns the summary (also written to output_dir/summary.json).
    """
    from apache_beam.options.pipeline_options import PipelineOptions
    from tfx.components.example_gen.write_split import WriteSplit
    from tfx.proto import example_gen_pb2

    config.validate()
    items = prepare_items(input_root, config)
    if not items:
        raise labels.LabelError(f"no video files ({', '.join(labels.VIDEO_EXTENSIONS)}) under {input_root}")
    splits = output_split_names(items)
    start = time.monotonic()
    with beam.Pipeline(options=PipelineOptions(list(beam_args or []))) as p:
        result = p | "Videos" >> beam.Create(items) | "Extract" >> ExtractFaces(config, progress)
        per_split = result["examples"] | "Split" >> PartitionBySplit(splits)
        for name, records in per_split.items():
            _ = records | f"Write[{name}]" >> WriteSplit(
                labels.join(output_dir, f"Split-{name}"), example_gen_pb2.FORMAT_TFRECORDS_GZIP)
        _ = result["report"] | "Report" >> WriteReport(labels.join(output_dir, REPORT_FILE))
    return write_summary(output_dir, seconds=round(time.monotonic() - start, 2), splits=splits)


def write_summary(output_dir: str, **extra: Any) -> dict[str, Any]:
    """Summarises output_dir's extraction report into output_dir/summary.json (plus extra keys)."""
    summary = {**summarize(read_report(labels.join(output_dir, REPORT_FILE))), **extra}
    _write_text(labels.join(output_dir, SUMMARY_FILE), json.dumps(summary, indent=2, sort_keys=True))
    return summary


def read_report(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in labels.read_text(path).splitlines() if line.strip()]


def summarize(report: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counts per status and split, faces and frames; failed videos with their reasons."""
    out: dict[str, Any] = {
        "videos": len(report),
        "videos_ok": sum(r["status"] == OK for r in report),
        "videos_no_face": sum(r["status"] == NO_FACE for r in report),
        "videos_failed": sum(r["status"] == FAILED for r in report),
        "frames_sampled": sum(r["frames_sampled"] for r in report),
        "frames_with_face": sum(r["frames_with_face"] for r in report),
        "faces_written": sum(r["faces_written"] for r in report),
        "synthetic_faces_written": sum(r.get("synthetic_faces_written", 0) for r in report),
        "faces_per_split": {},
        "problems": sorted(({"video_id": r["video_id"], "status": r["status"], "reason": r["reason"]}
                            for r in report if r["status"] != OK), key=lambda r: r["video_id"]),
    }
    for r in report:
        if r["split"]:
            n = r["faces_written"] + r.get("synthetic_faces_written", 0)
            out["faces_per_split"][r["split"]] = out["faces_per_split"].get(r["split"], 0) + n
    return out


def _write_text(path: str, text: str) -> None:
    if "://" in path and not path.startswith("file://"):
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.create(path) as f:
            f.write(text.encode())
    else:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
