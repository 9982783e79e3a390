"""The bulk-scoring Beam job: an archive of videos -> one committed record per video, per model.

    DiscoverVideos -> SkipScored -> SampleFaces (Reshuffle; decode, tracker, margin, crop: the extraction
    path) -> per model: InferVideos (RunInference, model loaded once per worker, videos batched) ->
    Rows (skyhawk.aggregate: mean | confident) -> CommitParts

Several models whose crop settings agree share one job: each video is decoded and its faces detected
once, and every model scores the same crops into its own destination (``run_shared_scoring``).
Re-running into a destination scores only inputs with no committed record there (key: URI, size,
modification time); a destination belongs to one model and one set of settings (``commit``).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import time
from typing import Any, Iterator, Sequence

import apache_beam as beam

from components.score import ScoreError
from components.score import commit as out
from components.score.discover import DiscoverVideos
from components.score.infer import InferVideos, quiet_inference_logs
from components.score.rows import make_row, record
from components.score.sample import NAMESPACE, SampleFaces
from skyhawk import fileio
from skyhawk.config import ScoreConfig, to_dict
from skyhawk_model.model_ref import ModelRef


class MakeRowFn(beam.DoFn):
    """(sampling record, face scores) -> the committed record of that video."""

    def __init__(self, model: str, threshold: float, aggregate: str):
        self._model, self._threshold, self._aggregate = model, threshold, aggregate

    def process(self, element: tuple[dict[str, Any], list]) -> Iterator[dict[str, Any]]:
        video, scores = element
        video = {**video, "seconds": video["seconds"] + sum(s[3] for s in scores)}
        row, frames = make_row(video, [(f, s, p) for f, s, p, _ in scores], self._model, self._threshold,
                               self._aggregate)
        yield record(row, video["key"], frames)


class ScoreWithModel(beam.PTransform):
    """(record, crops, model indices) -> this model's committed records in its DEST/_parts."""

    def __init__(self, index: int, model: ModelRef, dest: str, run_id: str, score: ScoreConfig):
        super().__init__()
        self._index, self._model, self._dest, self._run_id, self._score = index, model, dest, run_id, score

    def expand(self, sampled):
        i, score = self._index, self._score
        return (sampled
                | "Mine" >> beam.Filter(lambda s: i in s[2])
                | "Crops" >> beam.Map(lambda s: (s[0], s[1]))
                | "Infer" >> InferVideos(self._model.uri, score.batch_size, score.frames)
                | "Rows" >> beam.ParDo(MakeRowFn(self._model.label, self._model.threshold, score.aggregate))
                | "Commit" >> beam.ParDo(out.CommitPartsFn(self._dest, self._run_id, score.flush_every)))


def check_dest(dest: str) -> None:
    """DEST must be a folder (or not exist yet). Raises ScoreError."""
    if not dest:
        raise ScoreError("--output is empty")
    blocker = fileio.blocking_file(dest)
    if blocker == dest:
        raise ScoreError(f"--output is a file, not a folder: {dest}")
    if blocker:
        raise ScoreError(f"cannot create --output folder {dest}: {blocker} is a file")


@contextlib.contextmanager
def interrupt_as_keyboard_interrupt() -> Iterator[None]:
    """Ctrl-C inside a Beam step reaches us as ``RuntimeError('KeyboardInterrupt [while running ...]')``
    (Beam re-raises a step's exception with the step's name); raise it as the KeyboardInterrupt it was, so
    the command exits 130 like any interrupted command."""
    try:
        yield
    except Exception as e:
        seen, cause = set(), e
        while cause is not None and id(cause) not in seen:
            if isinstance(cause, KeyboardInterrupt):
                raise KeyboardInterrupt from None
            seen.add(id(cause))
            cause = cause.__cause__ or cause.__context__
        raise


def new_run_id() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def run_shared_scoring(src: str | Sequence[str], targets: Sequence[tuple[ModelRef, str]],
                       score: ScoreConfig = ScoreConfig(), *, force: bool = False,
                       beam_args: Sequence[str] | None = None, progress: bool = False,
                       pipeline: beam.Pipeline | None = None,
                       summary_extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Scores every video of SRC (a source, or a list of URIs) with each (model, DEST) target, decoding and
    detecting faces once, with the ``score`` settings (frames, aggregate, output format, batch size,
    flush_every; its threshold is the models' own, set where they were resolved: ``model_ref.resolve``).

    The models must crop alike (same crop settings and image size). Each DEST is locked for the run
    (``commit.dest_lock``: a second run into it raises ``LockHeld`` at once) and its damaged part files are
    quarantined first (their videos are scored again). Returns each DEST's summary (also
    DEST/summary.json, with ``summary_extra`` added). ``pipeline``: run on this (unrun) Beam pipeline
    instead of one made from ``beam_args`` (a TFX component passes the pipeline configured with the TFX
    pipeline's Beam arguments). A full disk is an ``OSError`` ENOSPC naming the DEST(s); the parts
    committed before it stay (whole).
    """
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    if not targets:
        raise ScoreError("no model to score with")
    crops = [to_dict(m.extract_config(score.frames)) for m, _ in targets]
    if any(c != crops[0] for c in crops):
        raise ScoreError("models that share a scoring job must crop alike: "
                         + ", ".join(m.label for m, _ in targets))
    dests = [d for _, d in targets]
    if len(set(dests)) != len(dests):
        raise ScoreError(f"two models would score into the same folder: {dests}")
    for dest in dests:
        check_dest(dest)
    discover = DiscoverVideos(src)  # raises ScoreError for a bad SRC before Beam starts
    with contextlib.ExitStack() as locks, fileio.disk_full_names(", ".join(dests)):  # ENOSPC names the DEST(s)
        for dest in dests:
            locks.enter_context(out.dest_lock(dest))  # one writer per destination, or LockHeld at once
        quarantined = {}
        for model, dest in targets:
            out.check_settings(dest, out.settings_of(model, score), force)
            out.clean_leftovers(dest)
            quarantined[dest] = out.quarantine_damaged(dest)
        quiet_inference_logs()
        run_id = new_run_id()
        start = time.monotonic()
        p = pipeline or beam.Pipeline(options=PipelineOptions(list(beam_args or [])))
        sampled = (p
                   | "Discover" >> discover
                   | "SkipScored" >> out.SkipScored(dests, force)
                   | "SampleFaces" >> SampleFaces(targets[0][0].extract_config(score.frames), progress))
        for i, (model, dest) in enumerate(targets):
            _ = sampled | f"Score{i}" >> ScoreWithModel(i, model, dest, run_id, score)
        with interrupt_as_keyboard_interrupt():
            result = p.run()
            result.wait_until_finish()
        seconds = time.monotonic() - start
        counters = {c.key.metric.name: c.committed for c in
                    result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]}
        summaries = []
        for model, dest in targets:
            scored = int(counters.get(f"rows_committed:{dest}", 0))
            summaries.append(out.write_views(
                dest, score.output_format, **out.settings_of(model, score), **(summary_extra or {}),
                quarantined=quarantined[dest], scored_this_run=scored,
                run_seconds=round(seconds, 2), videos_per_second=round(scored / seconds, 3) if seconds > 0 else 0.0))
    return summaries


def run_scoring(src: str | Sequence[str], model: ModelRef, dest: str, score: ScoreConfig = ScoreConfig(), *,
                force: bool = False, beam_args: Sequence[str] | None = None, progress: bool = False,
                pipeline: beam.Pipeline | None = None) -> dict[str, Any]:
    """Scores every video of SRC with one model into DEST with the ``score`` settings; returns the summary
    (also DEST/summary.json)."""
    return run_shared_scoring(src, [(model, dest)], score, force=force, beam_args=beam_args, progress=progress,
                              pipeline=pipeline)[0]
