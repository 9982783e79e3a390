"""What ``skyhawk run`` / ``demo`` show while the pipeline runs: one line when each TFX component starts
and finishes (with the elapsed time, and whether TFX's cache served it), nothing of TFX's own log.

TFX's LocalDagRunner logs "Component X is running." / "Component X is finished." (and the launcher
"A cached execution N is used.") through absl at INFO; ``ComponentProgress`` is a logging handler that
turns exactly those records into progress lines and drops every other INFO/WARNING record. The launcher's
"Execution N failed." becomes the running component's "failed" line: the error itself is raised, and the
command prints it once (``pipelines.main``). The Trainer's
per-epoch lines (loss, accuracy, val_loss, val_accuracy) are Keras' own ``fit(verbose=2)`` output.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import Iterator, TextIO

ABSL_LOGGER = "absl"
# Warnings TFX logs on every resolver step (eleven per run) that say nothing to a user.
NOISE = frozenset({
    "ArtifactQuery.property_predicate is not supported.",
    "ContextQuery.property_predicate is not supported.",
})
_RUNNING, _FINISHED = "Component %s is running.", "Component %s is finished."
_CACHED, _SKIPPED = "A cached execution %d is used.", "Skipping component %s."
_FAILED = "Execution %d failed."


class NoiseFilter(logging.Filter):
    """Drops the known-noise records (``NOISE``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in NOISE


class ComponentProgress(logging.Handler):
    """Writes '[m:ss] Component  started / finished in N s (cached) / failed after N s' from LocalDagRunner's
    log records; other records at ERROR and above are written as 'ERROR logger: message'; everything else
    is dropped."""

    def __init__(self, stream: TextIO | None = None):
        super().__init__(logging.DEBUG)
        self.stream = stream
        self.events: list[tuple[str, str]] = []  # (component, "started" | "finished" | "cached" | "skipped")
        self._t0 = time.monotonic()
        self._started: dict[str, float] = {}
        self._cached = False

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if record.msg == _RUNNING and args:
            self._started[str(args[0])] = time.monotonic()
            self._cached = False
            self._line(str(args[0]), "started")
        elif record.msg == _CACHED:
            self._cached = True
        elif record.msg == _FINISHED and args:
            node = str(args[0])
            seconds = time.monotonic() - self._started.pop(node, time.monotonic())
            self._line(node, "cached" if self._cached else "finished",
                       f"finished in {seconds:.1f} s" + (" (cached)" if self._cached else ""))
        elif record.msg == _SKIPPED and args:
            self._line(str(args[0]), "skipped")
        elif record.msg == _FAILED and self._started:
            node = next(reversed(self._started))  # the component running now
            seconds = time.monotonic() - self._started.pop(node)
            self._line(node, "failed", f"failed after {seconds:.1f} s")
        elif record.levelno >= logging.ERROR:
            self._write(f"{record.levelname} {record.name}: {record.getMessage()}")

    def _line(self, node: str, event: str, text: str | None = None) -> None:
        self.events.append((node, event))
        elapsed = int(time.monotonic() - self._t0)
        self._write(f"[{elapsed // 60:3d}:{elapsed % 60:02d}] {node:32s} {text or event}")

    def _write(self, line: str) -> None:
        stream = self.stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()


def silence_noise() -> None:
    """Adds the ``NoiseFilter`` to absl's logger (once)."""
    logger = logging.getLogger(ABSL_LOGGER)
    if not any(isinstance(f, NoiseFilter) for f in logger.filters):
        logger.addFilter(NoiseFilter())


@contextlib.contextmanager
def component_progress(verbose: bool = False, stream: TextIO | None = None) -> Iterator[ComponentProgress | None]:
    """While active, absl's records go to a ``ComponentProgress`` only (verbose: the normal log, minus noise).

    absl's INFO level is set with ``absl.logging.set_verbosity``, not on the logger alone: TensorFlow's
    SavedModel export saves and restores absl's verbosity around every save, which would otherwise reset
    the logger to WARNING in the middle of the Trainer and silence every component after it.
    """
    from absl import logging as absl_logging

    silence_noise()
    logger = logging.getLogger(ABSL_LOGGER)
    saved = (absl_logging.get_verbosity(), logger.level, logger.propagate)
    absl_logging.set_verbosity(absl_logging.INFO)
    handler = None
    if not verbose:
        handler = ComponentProgress(stream)
        logger.propagate = False
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        if handler is not None:
            logger.removeHandler(handler)
        absl_logging.set_verbosity(saved[0])
        logger.setLevel(saved[1])
        logger.propagate = saved[2]
