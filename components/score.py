"""Bulk scoring as Beam transforms: an archive of videos -> one committed result record per video.

    DiscoverVideos -> SkipScored -> Reshuffle -> SampleFaces (the extraction path: sampling, tracker,
    margin, crop) -> RunInference (model loaded once per worker, faces batched across videos) ->
    JoinByVideo -> rows (skyhawk.aggregate: mean | confident) -> CommitParts

Discovery happens inside the pipeline (``beam_fileio.MatchAll`` on a folder or glob, or the lines of a
listing file), so no list of inputs passes through the driver. Re-running into the same destination
with the same model scores only inputs with no committed record (key: URI, size, modification time).
See ``components.score_output`` for the files a destination holds.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import posixpath
import sys
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import apache_beam as beam
from apache_beam.io import fileio as beam_fileio
from apache_beam.metrics import Metrics

from components import score_output as out
from components.score_inference import NAMESPACE, ScoreFaces, quiet_inference_logs
from skyhawk import fileio
from skyhawk.config import ExtractConfig, from_dict, to_dict
from skyhawk.datasets import is_media
from skyhawk_model.model_ref import ModelRef

VIDEOS_TAG = "videos"
GLOB_CHARS = "*?["


class ScoreError(ValueError):
    """Bad SRC or DEST (one line), raised before any Beam work starts."""


@dataclass(frozen=True)
class VideoInput:
    """One input file: its URI, size and modification time (the resume key), or why it cannot be read."""

    uri: str
    size: int = -1
    mtime: float = -1.0
    error: str = ""

    @property
    def key(self) -> str:
        return f"{self.uri}|{self.size}|{self.mtime:.6f}"


# ----------------------------------------------------------------- discovery

def source_kind(src: str) -> str:
    """'glob', 'folder', 'listing' (a text file of URIs) or 'file' (one video). Raises ScoreError."""
    if not src:
        raise ScoreError("--input is empty")
    if any(c in src for c in GLOB_CHARS):
        return "glob"
    if fileio.isdir(src):
        return "folder"
    if fileio.isfile(src):
        return "file" if is_media(src) else "listing"
    raise ScoreError(f"input not found: {src}")


def stat_input(uri: str) -> VideoInput:
    """VideoInput with size and mtime, or with an error when the file is missing."""
    from apache_beam.io.filesystems import FileSystems

    try:
        if not fileio.is_remote(uri):
            st = os.stat(uri.removeprefix("file://"))
            if not os.path.isfile(uri.removeprefix("file://")):
                return VideoInput(uri, error="not a file")
            return VideoInput(uri, st.st_size, st.st_mtime)
        meta = FileSystems.match([uri], limits=[1])[0].metadata_list
        if not meta:
            return VideoInput(uri, error="file not found")
        return VideoInput(uri, meta[0].size_in_bytes, meta[0].last_updated_in_seconds)
    except FileNotFoundError:
        return VideoInput(uri, error="file not found")
    except Exception as e:  # noqa: BLE001 - one bad entry is a failed row, not a failed run
        return VideoInput(uri, error=f"cannot stat: {type(e).__name__}: {e}")


def _listing_entry(line: str, base: str) -> Iterator[str]:
    entry = line.strip()
    if not entry or entry.startswith("#"):
        return
    if not fileio.is_remote(entry) and not os.path.isabs(entry):
        entry = fileio.normpath(fileio.join(base, entry))
    yield entry


class DiscoverVideos(beam.PTransform):
    """SRC (folder, glob, listing file or one video) -> PCollection[VideoInput]."""

    def __init__(self, src: str):
        super().__init__()
        self._src = src
        self._kind = source_kind(src)

    def expand(self, pbegin):
        src = self._src
        if self._kind == "listing":
            base = posixpath.dirname(src) if fileio.is_remote(src) else os.path.dirname(os.path.abspath(src))
            return (pbegin
                    | "ReadListing" >> beam.io.ReadFromText(src)
                    | "Entries" >> beam.FlatMap(_listing_entry, base)
                    | "Stat" >> beam.Map(stat_input))
        if self._kind == "folder":
            pattern = src.rstrip("/") + "/**"
        else:
            pattern = src
        matched = (pbegin
                   | "Pattern" >> beam.Create([pattern])
                   | "Match" >> beam_fileio.MatchAll(beam_fileio.EmptyMatchTreatment.ALLOW))
        if self._kind == "folder":
            matched = matched | "Videos" >> beam.Filter(lambda m: is_media(m.path))
        return matched | "ToInput" >> beam.Map(
            lambda m: VideoInput(m.path, m.size_in_bytes, m.last_updated_in_seconds))


class SkipScored(beam.PTransform):
    """Drops inputs that already have a committed record for this model in DEST; one input per key."""

    def __init__(self, dest: str, model: str, force: bool):
        super().__init__()
        self._dest, self._model, self._force = dest, model, force

    def expand(self, inputs):
        keyed = inputs | "ByKey" >> beam.Map(lambda v: (v.key, v))
        if self._force:
            done = keyed.pipeline | "NoneScored" >> beam.Create([])
        else:
            model = self._model
            done = (keyed.pipeline
                    | "PartsPattern" >> beam.Create([out.join(self._dest, out.PARTS_DIR, "*.jsonl")])
                    | "MatchParts" >> beam_fileio.MatchAll(beam_fileio.EmptyMatchTreatment.ALLOW)
                    | "OpenParts" >> beam_fileio.ReadMatches()
                    | "Records" >> beam.FlatMap(lambda f: f.read_utf8().splitlines())
                    | "Parse" >> beam.Map(json.loads)
                    | "SameModel" >> beam.Filter(lambda r: r.get("model") == model)
                    | "DoneKeys" >> beam.Map(lambda r: (r["key"], True)))
        return (
            {"input": keyed, "done": done}
            | "Join" >> beam.CoGroupByKey()
            | "Todo" >> beam.FlatMap(lambda kv: [] if list(kv[1]["done"]) else list(kv[1]["input"])[:1])
        )


# ----------------------------------------------------------------- faces

class _Progress:
    """Videos done / total, videos/s and ETA on stderr, at most every `every` seconds (per worker)."""

    def __init__(self, every: float = 2.0):
        self.every = every
        self.start = 0.0
        self.last = 0.0
        self.done = 0

    def tick(self, total: int) -> None:
        now = time.monotonic()
        if not self.start:
            self.start = now
        self.done += 1
        if now - self.last < self.every and self.done < total:
            return
        self.last = now
        elapsed = now - self.start
        if elapsed < 0.5:
            print(f"skyhawk score: {self.done}/{total} videos", file=sys.stderr, flush=True)
            return
        rate = self.done / elapsed
        eta = max(total - self.done, 0) / rate
        print(f"skyhawk score: {self.done}/{total} videos, {rate:.2f} videos/s, ETA {eta:.0f} s",
              file=sys.stderr, flush=True)


class SampleFacesFn(beam.DoFn):
    """VideoInput -> ((uri, frame, face, seconds), JPEG crop) per face; a sampling record per video."""

    def __init__(self, crop: dict[str, Any], progress: bool):
        self._crop = dict(crop)
        self._progress_on = progress
        self._videos = {s: Metrics.counter(NAMESPACE, f"videos_{s}") for s in (out.OK, out.NO_FACE, out.FAILED)}
        self._faces = Metrics.counter(NAMESPACE, "faces_sampled")

    def setup(self) -> None:
        from skyhawk.faces import FaceDetector

        self._cfg: ExtractConfig = from_dict(ExtractConfig, self._crop)
        self._detector = FaceDetector(self._cfg.detector, self._cfg.detect_size)
        self._progress = _Progress()

    def process(self, video: VideoInput, total: int = 0) -> Iterator[Any]:
        rec, crops = sample_video(video, self._cfg, self._detector)
        self._videos[rec["status"]].inc()
        self._faces.inc(len(crops))
        if self._progress_on:
            self._progress.tick(total)
        yield from crops
        yield beam.pvalue.TaggedOutput(VIDEOS_TAG, (video.uri, rec))


FaceKey = tuple[str, int, int, float]  # (uri, frame index, face index, seconds)


def sample_video(video: VideoInput, cfg: ExtractConfig, detector: Any) -> tuple[dict[str, Any],
                                                                                  list[tuple[FaceKey, bytes]]]:
    """(sampling record, [(face key, JPEG crop)]) of one video; a bad video gives a failed record, no crops.

    The crops are made by ``skyhawk.faces.sample_faces`` and JPEG-encoded as extraction stores them, so
    the model sees what it was trained on. Used by the Beam job and by in-process ``predict`` alike.
    """
    from skyhawk.faces import encode_jpeg, sample_faces
    from skyhawk.video import VideoError, local_copy

    start = time.monotonic()
    rec: dict[str, Any] = {"uri": video.uri, "key": video.key, "status": out.FAILED, "reason": video.error,
                           "frames_sampled": 0, "faces": 0}
    crops: list[tuple[FaceKey, bytes]] = []
    if not video.error:
        try:
            with local_copy(video.uri) as path:
                for sampled in sample_faces(path, cfg, detector):
                    rec["frames_sampled"] += 1
                    for face_index, crop in enumerate(sampled.crops):
                        crops.append(((video.uri, sampled.index, face_index, sampled.seconds),
                                      encode_jpeg(crop, cfg.jpeg_quality)))
            rec["status"] = out.OK if crops else out.NO_FACE
            if not crops:
                rec["reason"] = f"no face found in {rec['frames_sampled']} sampled frames"
        except Exception as e:  # noqa: BLE001 - one bad video is a failed row, never a failed run
            crops = []
            rec["reason"] = str(e) if isinstance(e, VideoError) else f"{type(e).__name__}: {e}"
    rec["faces"] = len(crops)
    rec["seconds"] = time.monotonic() - start
    return rec, crops


class SampleFaces(beam.PTransform):
    """PCollection[VideoInput] -> {'faces': ((uri, frame, face, seconds), jpeg), 'videos': (uri, record)}."""

    def __init__(self, crop: ExtractConfig, progress: bool = False):
        super().__init__()
        self._crop = to_dict(crop)
        self._progress = progress

    def expand(self, videos):
        total = videos | "Total" >> beam.combiners.Count.Globally()
        results = (
            videos
            | "Distribute" >> beam.Reshuffle()
            | "Sample" >> beam.ParDo(SampleFacesFn(self._crop, self._progress),
                                     total=beam.pvalue.AsSingleton(total)).with_outputs(VIDEOS_TAG, main="faces")
        )
        return {"faces": results.faces, "videos": results[VIDEOS_TAG]}


# ----------------------------------------------------------------- inference

# ----------------------------------------------------------------- rows

class MakeRowFn(beam.DoFn):
    """(uri, {'video': [record], 'scores': [...]}) -> the committed record of that video."""

    def __init__(self, model: str, threshold: float, aggregate: str):
        self._model, self._threshold, self._aggregate = model, threshold, aggregate

    def process(self, element: tuple[str, dict[str, Iterable]]) -> Iterator[dict[str, Any]]:
        _, grouped = element
        videos = list(grouped["video"])
        scores = list(grouped["scores"])
        if not videos:
            return
        video = dict(videos[0])
        video["seconds"] = video["seconds"] + sum(s[3] for s in scores)
        row, frames = out.make_row(video, [(f, s, p) for f, s, p, _ in scores], self._model, self._threshold,
                                   self._aggregate)
        yield out.record(row, video["key"], frames)


class CommitPartsFn(beam.DoFn):
    """Writes records as whole part files under DEST/_parts (one per bundle, or per `flush_every`)."""

    def __init__(self, dest: str, run_id: str, flush_every: int = 500):
        self._dest, self._run_id, self._flush_every = dest, run_id, flush_every
        self._committed = Metrics.counter(NAMESPACE, "rows_committed")

    def start_bundle(self) -> None:
        self._buf: list[str] = []

    def process(self, rec: dict[str, Any]) -> None:
        self._buf.append(json.dumps(rec, sort_keys=True))
        if len(self._buf) >= self._flush_every:
            self._flush()

    def finish_bundle(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if not self._buf:
            return
        out.write_whole(out.new_part_path(self._dest, self._run_id), ("\n".join(self._buf) + "\n").encode())
        self._committed.inc(len(self._buf))
        self._buf = []


class ScoreVideos(beam.PTransform):
    """PCollection[VideoInput] -> committed records in DEST/_parts (the whole scoring job after discovery)."""

    def __init__(self, model: ModelRef, dest: str, run_id: str, frames: int = 32, aggregate: str = "mean",
                 batch_size: int = 32, progress: bool = False):
        super().__init__()
        self._model, self._dest, self._run_id = model, dest, run_id
        self._crop = model.extract_config(frames)
        self._aggregate, self._batch_size, self._progress = aggregate, batch_size, progress

    def expand(self, inputs):
        sampled = inputs | "SampleFaces" >> SampleFaces(self._crop, self._progress)
        scores = sampled["faces"] | "ScoreFaces" >> ScoreFaces(self._model.uri, self._batch_size)
        return (
            {"video": sampled["videos"], "scores": scores}
            | "JoinByVideo" >> beam.CoGroupByKey()
            | "Rows" >> beam.ParDo(MakeRowFn(self._model.label, self._model.threshold, self._aggregate))
            | "Commit" >> beam.ParDo(CommitPartsFn(self._dest, self._run_id))
        )


# ----------------------------------------------------------------- the job

def check_dest(dest: str) -> None:
    """DEST must be a folder (or not exist yet). Raises ScoreError."""
    if not dest:
        raise ScoreError("--output is empty")
    blocker = fileio.blocking_file(dest)
    if blocker == dest:
        raise ScoreError(f"--output is a file, not a folder: {dest}")
    if blocker:
        raise ScoreError(f"cannot create --output folder {dest}: {blocker} is a file")


def new_run_id() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def run_scoring(src: str, model: ModelRef, dest: str, *, frames: int = 32, aggregate: str = "mean",
                fmt: str = "jsonl", force: bool = False, beam_args: Sequence[str] | None = None,
                batch_size: int = 32, progress: bool = False, pipeline: beam.Pipeline | None = None
                ) -> dict[str, Any]:
    """Scores every video of SRC into DEST; returns the summary (also DEST/summary.json).

    ``pipeline``: run on this (unrun) Beam pipeline instead of one made from ``beam_args`` (a TFX
    component passes the pipeline configured with the TFX pipeline's Beam arguments).
    """
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    from skyhawk.aggregate import AGGREGATIONS

    if fmt not in out.FORMATS:
        raise ScoreError(f"--format must be one of {', '.join(out.FORMATS)}, got {fmt!r}")
    if aggregate not in AGGREGATIONS:
        raise ScoreError(f"--aggregate must be one of {', '.join(AGGREGATIONS)}, got {aggregate!r}")
    if frames < 1:
        raise ScoreError(f"--frames must be >= 1, got {frames}")
    check_dest(dest)
    discover = DiscoverVideos(src)  # raises ScoreError for a bad SRC before Beam starts
    out.clean_leftovers(dest)
    quiet_inference_logs()
    run_id = new_run_id()
    start = time.monotonic()
    p = pipeline or beam.Pipeline(options=PipelineOptions(list(beam_args or [])))
    _ = (p
         | "Discover" >> discover
         | "SkipScored" >> SkipScored(dest, model.label, force)
         | "Score" >> ScoreVideos(model, dest, run_id, frames, aggregate, batch_size, progress))
    result = p.run()
    result.wait_until_finish()
    seconds = time.monotonic() - start
    counters = {c.key.metric.name: c.committed for c in
                result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]}
    scored = int(counters.get("rows_committed", 0))
    return out.write_views(dest, fmt, model=model.label, threshold=model.threshold, aggregate=aggregate,
                           frames_per_video=frames, scored_this_run=scored, run_seconds=round(seconds, 2),
                           videos_per_second=round(scored / seconds, 3) if seconds > 0 else 0.0)
