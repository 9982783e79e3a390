"""Decode + faces of one video: sampled frames, tracked faces, crops exactly as the training data was cropped,
and the video's nuisance facts (how it was captured and encoded) for the evaluation's confound check."""
from __future__ import annotations

import sys
import time
from typing import Any, Iterator

import apache_beam as beam
from apache_beam.metrics import Metrics

from components.score.discover import VideoInput
from components.score.rows import FAILED, NO_FACE, OK
from skyhawk.config import ExtractConfig, from_dict, to_dict

NAMESPACE = "skyhawk_score"
FaceKey = tuple[str, int, int, float]  # (uri, frame index, face index, seconds)
Crops = list[tuple[FaceKey, bytes]]


def sample_video(video: VideoInput, cfg: ExtractConfig, detector: Any) -> tuple[dict[str, Any], Crops]:
    """(sampling record, [(face key, JPEG crop)]) of one video; a bad video gives a failed record, no crops.

    The crops are made by ``skyhawk.faces.sample_faces`` and JPEG-encoded as extraction stores them, so
    the model sees what it was trained on. Used by the Beam job and by in-process ``predict`` alike.
    """
    from skyhawk.faces import encode_jpeg, sample_faces
    from skyhawk.nuisance import face_side, media_facts, video_facts
    from skyhawk.video import VideoError, local_copy

    start = time.monotonic()
    rec: dict[str, Any] = {"uri": video.uri, "key": video.key, "status": FAILED, "reason": video.error,
                           "frames_sampled": 0, "faces": 0, "nuisance": {}}
    crops: Crops = []
    if not video.error:
        try:
            with local_copy(video.uri) as path:
                sides = []
                for sampled in sample_faces(path, cfg, detector):
                    rec["frames_sampled"] += 1
                    sides += [face_side(f.box()) for f in sampled.faces[:len(sampled.crops)]]
                    for face_index, crop in enumerate(sampled.crops):
                        crops.append(((video.uri, sampled.index, face_index, sampled.seconds),
                                      encode_jpeg(crop, cfg.jpeg_quality)))
                try:  # header facts only: after sampling, so a bad file fails with the sampler's own reason
                    facts = media_facts(path, cfg.frames_per_video)
                except VideoError:
                    facts = {}
                rec["nuisance"] = video_facts(facts, sides)
            rec["status"] = OK if crops else NO_FACE
            if not crops:
                rec["reason"] = f"no face found in {rec['frames_sampled']} sampled frames"
        except Exception as e:  # noqa: BLE001 - one bad video is a failed row, never a failed run
            crops = []
            rec["reason"] = str(e) if isinstance(e, VideoError) else f"{type(e).__name__}: {e}"
    rec["faces"] = len(crops)
    rec["seconds"] = time.monotonic() - start
    return rec, crops


class Progress:
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
    """(VideoInput, models to score it with) -> (sampling record, crops, those models), one per video."""

    def __init__(self, crop: dict[str, Any], progress: bool):
        self._crop = dict(crop)
        self._progress_on = progress
        self._videos = {s: Metrics.counter(NAMESPACE, f"videos_{s}") for s in (OK, NO_FACE, FAILED)}
        self._faces = Metrics.counter(NAMESPACE, "faces_sampled")

    def setup(self) -> None:
        from skyhawk.faces import FaceDetector

        self._cfg: ExtractConfig = from_dict(ExtractConfig, self._crop)
        self._detector = FaceDetector.from_config(self._cfg)
        self._progress = Progress()

    def process(self, element: tuple[VideoInput, tuple[int, ...]], total: int = 0
                ) -> Iterator[tuple[dict[str, Any], Crops, tuple[int, ...]]]:
        video, todo = element
        rec, crops = sample_video(video, self._cfg, self._detector)
        self._videos[rec["status"]].inc()
        self._faces.inc(len(crops))
        if self._progress_on:
            self._progress.tick(total)
        yield rec, crops, todo


class SampleFaces(beam.PTransform):
    """PCollection[(VideoInput, model indices)] -> PCollection[(record, crops, model indices)]."""

    def __init__(self, crop: ExtractConfig, progress: bool = False):
        super().__init__()
        self._crop = to_dict(crop)
        self._progress = progress

    def expand(self, videos):
        total = videos | "Total" >> beam.combiners.Count.Globally()
        return (videos
                | "Distribute" >> beam.Reshuffle()
                | "Sample" >> beam.ParDo(SampleFacesFn(self._crop, self._progress),
                                         total=beam.pvalue.AsSingleton(total)))
