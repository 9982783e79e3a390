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

from skyhawk import datasets, features, fileio, splits
from skyhawk.config import MEDIA_EXTENSIONS, ExtractConfig, from_dict, to_dict
from skyhawk.datasets import VideoItem

NAMESPACE = "skyhawk"
REPORT_TAG = "report"
REPORT_FILE = "extraction_report.jsonl"
SUMMARY_FILE = "summary.json"
STAGING = ".partial"  # run_extraction's Beam output before it is published
EXAMPLES_FILE = "data_tfrecord"  # ExampleGen's file prefix in each Split-* folder
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
        self._detector = FaceDetector.from_config(self._cfg)
        from skyhawk.faces import LandmarkPredictor

        self._landmarks = LandmarkPredictor()  # every face's 68 points go into its example (online SBI)

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
        from skyhawk.faces import crop_face, landmarks_in_crop, sample_faces
        from skyhawk.nuisance import media_facts
        from skyhawk.video import local_copy

        cfg = self._cfg
        synth, donor = self._synthesizer(item)
        with local_copy(item.uri) as path:
            facts = media_facts(path, cfg.frames_per_video)  # nuisance facts: once per video, header only
            for sampled in sample_faces(path, cfg, self._detector, self._landmarks):
                rec["frames_sampled"] += 1
                rec["frames_with_face"] += bool(sampled.faces)
                h, w = sampled.frame.shape[:2]
                for face_index, (face, crop, lms) in enumerate(zip(sampled.faces, sampled.crops, sampled.landmarks,
                                                                   strict=True)):
                    in_crop = landmarks_in_crop(lms, face.box(), cfg.margin, w, h, cfg.image_size).ravel()
                    out.append(self._example(item, crop, sampled.index, face_index, face, item.label, item.method,
                                             facts, in_crop))
                    rec["faces_written"] += 1
                    if synth is not None:
                        fake = self._synthesize(synth, sampled.frame, lms, donor)
                        if fake is not None:
                            crop = crop_face(fake, face.box(), cfg.margin, cfg.image_size)
                            fake_item = replace(item, video_id=f"{item.video_id}#{synth.method}")
                            out.append(self._example(fake_item, crop, sampled.index, face_index, face,
                                                     features.FAKE, synth.method, facts, in_crop))
                            rec["synthetic_faces_written"] += 1

    def _synthesizer(self, item: VideoItem):
        """(synthesizer, donor) for a real video when synthesis is on, else (None, None).

        A swap takes its source face from the item's donor video (another identity's real video,
        chosen by ``prepare_items``); a donor without a face fails this video's synthesis loudly. An item
        without a donor (a lone train identity: ``splits.assign_donors``) gets SBI fakes instead.
        """
        if self._cfg.synthesize == "none" or item.label != features.REAL:
            return None, None
        from skyhawk.synth import SynthError, donor_from_image, make_synthesizer
        from skyhawk.video import iter_sampled_frames, local_copy

        method = "sbi" if self._cfg.synthesize == "swap" and not item.donor else self._cfg.synthesize
        synth = make_synthesizer(method, self._cfg.synth_seed, item.video_id)
        if method != "swap":
            return synth, None
        with local_copy(item.donor) as path:
            for _, frame in iter_sampled_frames(path, 8):
                try:
                    return synth, donor_from_image(frame, self._detector, self._landmarks)
                except SynthError:
                    continue
        raise SynthError(f"donor video has no face: {item.donor}")

    def _synthesize(self, synth, frame, landmarks, donor):
        from skyhawk.synth import SynthError

        try:
            return synth(frame, landmarks, donor)[0]
        except SynthError as e:
            _log.info("synthesis skipped a frame: %s", e)
            return None

    def _example(self, item: VideoItem, crop, frame_index: int, face_index: int, face, label: int,
                 method: str, facts: dict[str, Any], landmarks: Sequence[float] = ()) -> tuple[str, bytes]:
        from skyhawk.faces import encode_jpeg
        from skyhawk.nuisance import CODEC, face_facts

        rec = features.FaceRecord(
            jpeg=encode_jpeg(crop, self._cfg.jpeg_quality), label=label, video_id=item.video_id,
            group_id=item.group_id, frame_index=frame_index, face_index=face_index, box=face.box(),
            detector_score=face.score, source_uri=item.uri, method=method, landmarks=landmarks,
            nuisance=face_facts(facts, face.box()), codec=str(facts[CODEC]),
        )
        return item.split, features.to_example(rec).SerializeToString()


class ExtractFaces(beam.PTransform):
    """PCollection[VideoItem] -> {'examples': (split, bytes), 'report': dict}."""

    def __init__(self, config: ExtractConfig, progress: bool = False):
        super().__init__()
        self._config = config
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
    """(split, record) -> {split: PCollection[record]} for the given split names.

    The names come from ``datasets.output_splits`` of the same items, so every record has a place; a
    record of another split is a programming error and fails the pipeline (never silently eval).
    """

    def __init__(self, split_names: Sequence[str]):
        super().__init__()
        self._names = list(split_names)

    def expand(self, pairs):
        names = self._names

        def index(pair: tuple[str, bytes], n: int) -> int:
            if pair[0] not in names:
                raise ValueError(f"example of split {pair[0]!r}, but the output splits are {names}")
            return names.index(pair[0])

        parts = pairs | "BySplit" >> beam.Partition(index, len(names))
        return {name: parts[i] | f"Records[{name}]" >> beam.Values() for i, name in enumerate(names)}


class WriteExamples(beam.PTransform):
    """Serialized tf.Examples -> split_dir/data_tfrecord-*.gz, shuffled: the files TFX's ExampleGen writes.

    Plain Beam (TFX's ``WriteSplit`` does the same), so worker processes never import TFX.
    """

    def __init__(self, split_dir: str):
        super().__init__()
        self._prefix = fileio.join(split_dir, EXAMPLES_FILE)

    def expand(self, records):
        return (records
                | "Shuffle" >> beam.Reshuffle()
                | "Write" >> beam.io.WriteToTFRecord(self._prefix, file_name_suffix=".gz"))


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


class ExtractionError(RuntimeError):
    """Extraction cannot start or produced an unusable result (a one-line reason)."""


def prepare_items(root: str, config: ExtractConfig) -> list[VideoItem]:
    """Discovers, labels and splits the videos under root (driver side; cheap, no decoding).

    Fails (before any decoding) when there is no video, no labelled video, or no labelled video for
    the train or the eval split.
    """
    found = datasets.discover(root, config.labels, config.allow_outside_root)
    if not found:
        raise ExtractionError(f"no video or photo files ({', '.join(MEDIA_EXTENSIONS)}) under {root}")
    items = splits.assign_splits(found, config.eval_fraction, config.split_seed)
    usable = [it for it in items if not it.error]
    if not usable:
        raise ExtractionError(f"none of the {len(items)} videos under {root} is usable; the first: "
                              f"{items[0].video_id}: {items[0].error}")
    for split in (datasets.TRAIN, datasets.EVAL):
        if not any(it.split == split for it in usable):
            raise ExtractionError(f"no usable video for the {split} split ({len(usable)} usable videos, "
                                  f"{len({it.group_id for it in usable})} groups); add videos or groups")
    return splits.assign_donors(items) if config.synthesize == "swap" else items


def output_split_names(items: Iterable[VideoItem]) -> list[str]:
    """The output splits of these items (``datasets.output_splits``: train, eval, and test when present)."""
    return datasets.output_splits(items)


def check_output_dir(output_dir: str, overwrite: bool = False, input_root: str = "") -> None:
    """Before Beam starts: output_dir must be a folder that is absent or empty; with overwrite its old
    contents (earlier shards, an old Split-test, beam-temp-* leftovers of a killed run) are deleted.
    It may not hold the input (an overwrite would delete the videos)."""
    if input_root:
        out, inp = _norm_dir(output_dir), _norm_dir(input_root)
        if inp == out or inp.startswith(out):
            raise ExtractionError(f"the output folder {output_dir} holds the input {input_root}; choose another")
    blocker = fileio.blocking_file(output_dir)
    if blocker == output_dir:
        raise ExtractionError(f"output is a file, not a folder: {output_dir}")
    if blocker:
        raise ExtractionError(f"cannot create output folder {output_dir}: {blocker} is a file")
    if fileio.isdir(output_dir) and fileio.list_files(output_dir):
        if not overwrite:
            raise ExtractionError(f"output folder is not empty: {output_dir} (use --overwrite to replace it)")
        fileio.remove(output_dir, recursive=True)
    fileio.makedirs(output_dir)


def _norm_dir(path: str) -> str:
    return (path.rstrip("/") if fileio.is_remote(path) else os.path.abspath(fileio.local_path(path))) + "/"


def check_result(summary: dict[str, Any], output_dir: str) -> None:
    """A run without any face, or without faces for train or eval, failed (the summary stays for reading)."""
    where = f"see {fileio.join(output_dir, REPORT_FILE)}"
    if not summary["faces_written"]:
        raise ExtractionError(f"no face found in any of the {summary['videos']} videos ({summary['videos_ok']} ok, "
                              f"{summary['videos_no_face']} without a face, {summary['videos_failed']} failed); "
                              f"{where}")
    per_split = summary["faces_per_split"]
    empty = [s for s in (datasets.TRAIN, datasets.EVAL) if not per_split.get(s)]
    if empty:
        raise ExtractionError(f"no face for the {' and '.join(empty)} split (faces per split: {per_split}); "
                              f"its videos failed or had no face; {where}")


def run_extraction(input_root: str, output_dir: str, config: ExtractConfig,
                   beam_args: Sequence[str] | None = None, progress: bool = False,
                   overwrite: bool = False) -> dict[str, Any]:
    """Standalone Beam pipeline: videos under input_root -> output_dir/Split-*/ TFRecords + report.

    The layout is the one TFX ExampleGen writes, so the output can be imported as Examples. The inputs
    and the output folder are checked before Beam starts (see ``prepare_items``, ``check_output_dir``).
    Beam writes into output_dir/.partial/ (its beam-temp files too), which is published entry by entry
    once the summary is written and deleted whatever happens, so a failed run (a full disk: an ``OSError``
    ENOSPC naming output_dir) leaves no partial output. A run that yields no face for train or eval
    raises ``ExtractionError`` after publishing its summary. Returns the summary (also output_dir/summary.json).
    """
    items = prepare_items(input_root, config)
    check_output_dir(output_dir, overwrite, input_root)
    staging = fileio.join(output_dir, STAGING)
    try:
        with fileio.disk_full_names(output_dir):
            summary = _extract_into(staging, items, config, beam_args, progress)
            publish(staging, output_dir)
    finally:
        fileio.remove(staging, recursive=True)
    check_result(summary, output_dir)
    return summary


def _extract_into(out: str, items: list[VideoItem], config: ExtractConfig, beam_args: Sequence[str] | None,
                  progress: bool) -> dict[str, Any]:
    """The Beam job: items -> out/Split-*/ + report, then out/summary.json."""
    from apache_beam.options.pipeline_options import PipelineOptions

    splits = output_split_names(items)
    start = time.monotonic()
    with beam.Pipeline(options=PipelineOptions(list(beam_args or []))) as p:
        result = p | "Videos" >> beam.Create(items) | "Extract" >> ExtractFaces(config, progress)
        per_split = result["examples"] | "Split" >> PartitionBySplit(splits)
        for name, records in per_split.items():
            _ = records | f"Write[{name}]" >> WriteExamples(fileio.join(out, f"Split-{name}"))
        _ = result["report"] | "Report" >> WriteReport(fileio.join(out, REPORT_FILE))
    return write_summary(out, seconds=round(time.monotonic() - start, 2), splits=splits)


def publish(staging: str, output_dir: str) -> None:
    """Moves staging's contents into output_dir, summary.json last (local: one rename per entry; remote: copies)."""
    if not fileio.is_remote(staging):
        src, dst = fileio.local_path(staging), fileio.local_path(output_dir)
        for name in sorted(os.listdir(src), key=lambda n: n == SUMMARY_FILE):
            os.replace(os.path.join(src, name), os.path.join(dst, name))
        return
    for f in sorted(fileio.list_files(staging), key=lambda f: f.endswith("/" + SUMMARY_FILE)):
        fileio.copy_file(f, fileio.join(output_dir, fileio.relpath(f, staging)))


def write_summary(output_dir: str, **extra: Any) -> dict[str, Any]:
    """Summarises output_dir's extraction report into output_dir/summary.json (plus extra keys)."""
    summary = {**summarize(read_report(fileio.join(output_dir, REPORT_FILE))), **extra}
    fileio.write_text(fileio.join(output_dir, SUMMARY_FILE), json.dumps(summary, indent=2, sort_keys=True))
    return summary


def read_report(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in fileio.read_text(path).splitlines() if line.strip()]


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
