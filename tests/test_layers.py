"""The import direction: skyhawk < skyhawk_model < components < pipelines, and no import runs back up a floor.

The tooling beside the product has its own rules: ``infra/`` (test and ops tooling: emulators, local Beam
services, network namespaces) may import only ``skyhawk``; ``bench/`` (benchmark scripts) is a top-level
consumer that may import everything; nothing in the product imports either of them.

Checked by parsing every source file (ast), so it also covers imports inside functions and module names
given as strings (``importlib.import_module("pipelines.main")``, ``run_fn="skyhawk_model.trainer.run_fn"``).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FLOORS = {"skyhawk": 0, "skyhawk_model": 1, "components": 2, "pipelines": 3}
# Tooling: the top-level packages of ours each may import (itself included).
TOOLING = {"infra": {"infra", "skyhawk"}, "bench": {"bench", "infra", *FLOORS}}
OURS = (*FLOORS, *TOOLING)
MODULE_STRING = re.compile(r"^(" + "|".join(OURS) + r")(\.\w+)+$")


def imported_modules(path: Path, package: str | None = None) -> list[tuple[int, str]]:
    """(line, dotted module) of every import and every string constant that names one of our modules."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    if package is None:
        package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this file's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                out.append((node.lineno, ".".join(base + ([node.module] if node.module else []))))
            else:
                out.append((node.lineno, node.module or ""))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_STRING.match(node.value) \
                and _is_module(node.value):  # not a file name such as "skyhawk_model.json"
            out.append((node.lineno, node.value))
    return out


def _is_module(dotted: str) -> bool:
    """True when some prefix of dotted (a module, then maybe an attribute) is one of our source files."""
    parts = dotted.split(".")
    paths = [REPO.joinpath(*parts[:n]) for n in range(2, len(parts) + 1)]
    return any(p.with_suffix(".py").is_file() or (p / "__init__.py").is_file() for p in paths)


def floor_of(module: str) -> int | None:
    return FLOORS.get(module.split(".")[0])


def sources(tops=FLOORS) -> list[Path]:
    return sorted(p for top in tops for p in (REPO / top).rglob("*.py"))


def test_sources_found():
    names = {p.relative_to(REPO).as_posix() for p in sources(OURS)}
    assert {"skyhawk/config.py", "skyhawk_model/evaluation.py", "components/report.py", "pipelines/main.py",
            "infra/procs.py", "bench/bench_score.py"} <= names


@pytest.mark.parametrize("path", sources(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_import_runs_up_a_floor(path: Path):
    own = floor_of(path.relative_to(REPO).parts[0])
    upward = [f"line {line}: {module}" for line, module in imported_modules(path)
              if (floor_of(module) or 0) > own]
    assert not upward, f"{path.relative_to(REPO)} imports a higher floor: {upward}"


@pytest.mark.parametrize("path", sources(OURS), ids=lambda p: p.relative_to(REPO).as_posix())
def test_tooling_is_imported_only_by_tooling(path: Path):
    top = path.relative_to(REPO).parts[0]
    allowed = TOOLING.get(top, set(FLOORS))
    bad = [f"line {line}: {module}" for line, module in imported_modules(path)
           if module.split(".")[0] in OURS and module.split(".")[0] not in allowed]
    assert not bad, f"{path.relative_to(REPO)} may import only {sorted(allowed)}: {bad}"


def test_infra_is_not_installed():
    """infra/ is test and ops tooling: tests import it from the repository root, the package leaves it out."""
    packages = re.search(r"include=\[([^\]]*)\]", (REPO / "setup.py").read_text()).group(1)
    assert set(re.findall(r'"(\w+)\*?"', packages)) == set(FLOORS)


def test_pusher_does_not_import_the_report():
    modules = [m for _, m in imported_modules(REPO / "components" / "pusher.py")]
    assert not [m for m in modules if m.startswith("components.report")], modules


def test_the_checker_sees_string_and_function_level_imports(tmp_path):
    """The checker itself: it must flag an upward import hidden in a function or given as a string."""
    bad = tmp_path / "probe.py"
    bad.write_text('def f():\n    from pipelines import run\n    from ..components import x\n\n'
                   'MODS = ("components.extract", "infra.procs")\n')
    found = imported_modules(bad, package="skyhawk.synth")
    assert (2, "pipelines") in found and (3, "skyhawk.components") in found
    assert (5, "components.extract") in found and (5, "infra.procs") in found


MAX_LINES = 400


def test_no_source_file_passes_the_line_limit():
    """Every Python file of ours (product, tooling, tests, setup.py) has at most MAX_LINES lines: a longer one is
    split into modules with one job each."""
    files = [*sources((*OURS, "tests")), REPO / "setup.py"]
    too_long = {p.relative_to(REPO).as_posix(): n for p in files
                if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert len(files) > 150 and not too_long, too_long
