"""The command layer (pipelines/commands/): every command in `skyhawk --help`, the shared option groups, and
the exit-code decisions of `skyhawk demo` read from a recorded run outcome."""
from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from pipelines.commands import extract, options
from pipelines.commands.parser import build_parser
from pipelines.commands.pipeline import EXIT_DEMO_NOT_PUSHED, demo_failure
from skyhawk.config import ExtractConfig

README = Path(__file__).resolve().parents[1] / "README.md"
README_COMMANDS = set(re.findall(r"^\| `skyhawk ([a-z-]+)", README.read_text(encoding="utf-8"), re.M))


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    listed = set(re.findall(r"^    (\S+)", capsys.readouterr()[0], re.M))
    assert len(README_COMMANDS) >= 12 and listed == README_COMMANDS  # README's command table is the whole list


def test_registry_actions_each_have_a_handler():
    parser = build_parser()
    handlers = {action: parser.parse_args(["registry", action, *extra]).func.__name__
                for action, extra in [("list", []), ("show", ["m"]), ("pin", ["m@1"]), ("unpin", ["m"]),
                                      ("rollback", ["m"]), ("config", [])]}
    assert len(set(handlers.values())) == len(handlers), handlers


def test_parse_set():
    assert options.parse_set(["a=1", "b.c=x", "d=[1, 2]", "e="]) == {"a": 1, "b.c": "x", "d": [1, 2], "e": ""}
    with pytest.raises(ValueError, match="--set expects key=value, got 'oops'"):
        options.parse_set(["oops"])


def test_extract_flags_are_extract_config_fields():
    parser = build_parser()
    defaults = parser.parse_args(["extract", "--input", "i", "--output", "o"])
    assert options.config_overrides(defaults, extract.FIELD_FLAGS) == {
        f.field: getattr(ExtractConfig(), f.field) for f in extract.FIELD_FLAGS}
    assert {f.field for f in extract.FIELD_FLAGS} <= {f.name for f in fields(ExtractConfig)}
    args = parser.parse_args(["extract", "--input", "i", "--output", "o", "--frames", "4", "--margin", "1.5",
                              "--allow-outside-root", "--synthesize", "sbi", "--labels", "csv:m.csv"])
    over = options.config_overrides(args, extract.FIELD_FLAGS)
    assert over["frames_per_video"] == 4 and over["margin"] == 1.5 and over["allow_outside_root"] is True
    assert over["synthesize"] == "sbi" and over["labels"] == "csv:m.csv"
    with pytest.raises(SystemExit):
        parser.parse_args(["extract", "--input", "i", "--output", "o", "--detector", "nope"])


def test_beam_options_are_shared():
    parser = build_parser()
    for argv in (["extract", "--input", "i", "--output", "o"], ["score", "--input", "i", "--output", "o",
                                                                 "--model", "m"], ["evaluate", "--input", "i",
                                                                                    "--model", "m"]):
        args = parser.parse_args([*argv, "--workers", "1", "--beam-arg=--foo=1"])
        assert options.beam_args(args) == ["--direct_running_mode=in_memory", "--direct_num_workers=1", "--foo=1"]


def _outcome(**kw) -> dict:
    return {"pushed": True, "version": 1, "report": None, "pushed_model_uri": "p", "reason": None, "spans": None,
            "eval_span": None, **kw}


def test_demo_fails_when_its_model_is_not_pushed():
    assert demo_failure(_outcome()) is None
    assert demo_failure(_outcome(pushed=False, reason="binary_accuracy 0.5 < 0.75")) == \
        "model NOT pushed: binary_accuracy 0.5 < 0.75"
    assert demo_failure(_outcome(pushed=False)) == "model NOT pushed: not blessed"
    assert "no push decision" in demo_failure(_outcome(pushed=None))
    assert EXIT_DEMO_NOT_PUSHED != 0
