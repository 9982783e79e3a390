"""The option groups shared by ``skyhawk`` commands: config (``--config/--set``), Beam runner, input/output, model.

A command module adds a group with one ``add_*`` call and reads it back with the matching function
(``load_config_from``, ``beam_args``, ``config_overrides``), so every command spells a shared option the
same way.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

from skyhawk.aggregate import AGGREGATIONS
from skyhawk.config import ConfigError, ScoreConfig
from skyhawk.runners import RUNNERS, beam_args_for

MODEL_HELP = "REGISTRY/NAME (serving version), REGISTRY/NAME/VERSION, or a SavedModel folder; local or gs://"


def parse_set(values: list[str]) -> dict[str, Any]:
    """--set key=value pairs; values are JSON when they parse as JSON, else strings."""
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {item!r}")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def at_least(value: int, minimum: int, flag: str) -> int:
    """value, or ValueError (a one-line error: ``FLAG must be >= MINIMUM, got VALUE``) when it is smaller."""
    if value < minimum:
        raise ValueError(f"{flag} must be >= {minimum}, got {value}")
    return value


# ---------------------------------------------------------------- --config / --set

def add_config(p: argparse.ArgumentParser, required: bool = False,
               help: str = "pipeline config JSON (default: the packaged demo config)") -> None:
    """--config FILE and --set KEY=VALUE."""
    p.add_argument("--config", required=required, help=help)
    add_set(p)


def add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.max_epochs=3 (repeatable)")


def load_config_from(args: argparse.Namespace):
    """The PipelineConfig named by --config (default: the packaged demo config) with the --set overrides."""
    from pipelines.run import load_config

    return load_config(args.config, parse_set(args.set))


# ---------------------------------------------------------------- Beam runner

def add_beam(p: argparse.ArgumentParser, workers: int) -> None:
    """--runner, --workers and --beam-arg, shared by every Beam command."""
    p.add_argument("--runner", choices=tuple(RUNNERS), default="direct",
                   help="Beam runner profile; non-direct runners take their flags via --beam-arg (docs/cluster.md)")
    p.add_argument("--workers", type=int, default=workers,
                   help="local DirectRunner worker processes (0: one per core, as threads on up to 2 cores)")
    p.add_argument("--threads", action="store_true",
                   help="run the --workers as threads of this process instead (no per-worker start-up)")
    p.add_argument("--beam-arg", action="append", default=[], metavar="FLAG",
                   help="extra Beam pipeline flag, repeatable (e.g. --beam-arg=--job_endpoint=host:8099)")


def beam_args(args: argparse.Namespace) -> list[str]:
    """The Beam flags of --runner/--workers/--beam-arg (a bad runner profile or --workers < 0 fails here,
    before any work)."""
    at_least(args.workers, 0, "--workers")
    return beam_args_for(args.workers, args.beam_arg, args.runner, args.threads)


# ---------------------------------------------------------------- input / output

def add_io(p: argparse.ArgumentParser, input_help: str, output_help: str, output_default: str | None = None,
           output_metavar: str | None = None) -> None:
    """--input (required) and --output (required unless it has a default)."""
    p.add_argument("--input", required=True, help=input_help)
    p.add_argument("--output", required=output_default is None, default=output_default, metavar=output_metavar,
                   help=output_help)


# ---------------------------------------------------------------- model to score with

def add_model(p: argparse.ArgumentParser, many: bool = False) -> None:
    """--model and the scoring settings of the scoring commands: --frames, --aggregate, --threshold, defaulted
    from the config's ``score`` section (``many``: --model may be repeated)."""
    if many:
        p.add_argument("--model", required=True, action="append", help=MODEL_HELP + "; repeat to compare models")
    else:
        p.add_argument("--model", required=True, help=MODEL_HELP)
    add_field_flags(p, ScoreConfig(), SCORE_FLAGS)


def score_settings(args: argparse.Namespace, flags: tuple[FieldFlag, ...] = ()) -> ScoreConfig:
    """The ScoreConfig of a scoring command's flags (SCORE_FLAGS plus ``flags``), checked by the config; a bad
    value is one line naming its flag (``--frames must be >= 1, got 0``)."""
    return config_from_flags(ScoreConfig, args, SCORE_FLAGS + flags)


# ---------------------------------------------------------------- config fields as flags

@dataclass(frozen=True)
class FieldFlag:
    """A config field exposed as its own flag (default: the config's default)."""

    flag: str
    field: str
    help: str | None = None
    choices: tuple[str, ...] | None = None


def add_field_flags(p: argparse.ArgumentParser, defaults: Any, flags: tuple[FieldFlag, ...]) -> None:
    """One flag per FieldFlag, typed and defaulted from the config dataclass instance ``defaults``."""
    for f in flags:
        value = getattr(defaults, f.field)
        if isinstance(value, bool):
            p.add_argument(f.flag, dest=f.field, action="store_true", default=value, help=f.help)
        else:
            metavar = None if f.choices else f.flag.lstrip("-").replace("-", "_").upper()
            p.add_argument(f.flag, dest=f.field, type=type(value), default=value, choices=f.choices,
                           metavar=metavar, help=f.help)


def config_overrides(args: argparse.Namespace, flags: tuple[FieldFlag, ...]) -> dict[str, Any]:
    """{field: value} of the flags added by ``add_field_flags``."""
    return {f.field: getattr(args, f.field) for f in flags}


def config_from_flags(cls: type, args: argparse.Namespace, flags: tuple[FieldFlag, ...]) -> Any:
    """The config section ``cls`` built from its flags (checked when built); its ConfigError names the flag."""
    try:
        return cls(**config_overrides(args, flags))
    except ConfigError as e:
        message = str(e)
        for f in flags:
            if message.startswith(f.field + " "):
                message = f.flag + message[len(f.field):]
        raise ConfigError(message) from None


SCORE_FLAGS = (
    FieldFlag("--frames", "frames", "frames sampled per video"),
    FieldFlag("--aggregate", "aggregate", "frame -> video score: mean, or the DFDC winner's confident rule",
              AGGREGATIONS),
    FieldFlag("--threshold", "threshold", "fake if p_fake >= THRESHOLD (default 0: the threshold exported with "
              "the model)"),
)
