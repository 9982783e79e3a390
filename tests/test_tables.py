"""One table per kind of plug-in: a name that belongs in a table is never branched on outside it.

Checked by parsing every product source file (ast): a backbone name, a face-detector chance name or a storage
scheme prefix in the test of an ``if`` / conditional expression / ``match`` outside its table is a failure; the
label-spec separator is a constant of ``skyhawk/labels.py`` alone.
"""
from __future__ import annotations

import ast
from pathlib import Path

from skyhawk import backbone_specs
from skyhawk.detectors import CHANCES

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("skyhawk", "components", "pipelines", "skyhawk_model")


def sources() -> list[Path]:
    return sorted(p for top in PRODUCT for p in (REPO / top).rglob("*.py"))


def branch_strings(path: Path) -> list[tuple[int, str]]:
    """(line, string) of every string constant inside the test of an if, a conditional expression, a while or a
    match (its patterns and guards): the places that decide a branch."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        tests = [node.test] if isinstance(node, (ast.If, ast.IfExp, ast.While)) else \
            [c.guard for c in node.cases if c.guard] + [c.pattern for c in node.cases] if isinstance(node, ast.Match) \
            else []
        for test in tests:
            out += [(n.lineno, n.value) for n in ast.walk(test)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return out


def offenders(names: set[str], allowed: set[str], prefix: bool = False) -> list[str]:
    found = []
    for path in sources():
        rel = path.relative_to(REPO).as_posix()
        if any(rel.startswith(a) for a in allowed):
            continue
        found += [f"{rel}:{line}: {value!r}" for line, value in branch_strings(path)
                  if (any(value.startswith(n) for n in names) if prefix else value in names)]
    return found


def test_no_branch_on_a_backbone_name_outside_the_backbone_table():
    assert not offenders(set(backbone_specs.names()), {"skyhawk/backbone_specs.py", "skyhawk_model/backbones.py"})


def test_no_branch_on_a_detector_chance_outside_the_detector_table():
    names = set(CHANCES) - {"hog", "cnn"}  # hog and cnn are also extract.detector's values (config.DETECTORS)
    assert not offenders(names, {"skyhawk/detectors.py"})


def test_no_branch_on_a_storage_scheme_outside_fileio():
    assert not offenders({"gs://", "s3://", "hdfs://", "file://"}, {"skyhawk/fileio/"}, prefix=True)


def test_the_label_spec_separator_is_a_constant_of_the_labels_module_only():
    found = [f"{p.relative_to(REPO)}:{n.lineno}" for p in sources() if p.name != "labels.py"
             for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
             if isinstance(n, ast.Constant) and n.value == ";"]
    assert not found


def test_a_scheme_prefix_is_a_value_in_fileio_only():
    """No string (or f-string part) outside ``skyhawk/fileio/`` starts with a scheme prefix: code that builds or
    strips ``gs://`` itself (``len("gs://")``, ``f"gs://{bucket}"``) bypasses the scheme table. Help texts and
    docstrings that mention one in passing are fine."""
    prefixes = ("gs://", "s3://", "hdfs://", "file://")
    found = [f"{p.relative_to(REPO).as_posix()}:{n.lineno}: {n.value!r}" for p in sources()
             if not p.relative_to(REPO).as_posix().startswith("skyhawk/fileio/")
             for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
             if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.startswith(prefixes)]
    assert not found
