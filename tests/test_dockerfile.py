"""infra/Dockerfile installs exactly the pinned set and the project, on the Python infra/setup.sh uses.

There is no Docker daemon here, so the image is not built; what can be checked from the files is.
"""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = (REPO / "infra" / "Dockerfile").read_text()


def _instructions() -> list[tuple[str, str]]:
    lines = [ln for ln in DOCKERFILE.replace("\\\n", " ").splitlines() if ln.strip() and not ln.startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1].strip()) for ln in lines]


def _setup_python() -> str:
    m = re.search(r"sys\.version_info\[:2\] == \((\d+), (\d+)\)", (REPO / "infra" / "setup.sh").read_text())
    assert m, "infra/setup.sh no longer states its Python version"
    return f"{m.group(1)}.{m.group(2)}"


def _pin(name: str) -> str:
    m = re.search(rf"^{re.escape(name)}==(\S+)$", (REPO / "requirements.txt").read_text(), re.M)
    assert m, name
    return m.group(1)


def test_same_python_and_beam_as_the_pinned_environment():
    froms = [arg for ins, arg in _instructions() if ins == "FROM"]
    python = _setup_python()
    assert froms[-1].startswith(f"python:{python}-"), froms  # the final stage
    beam = [f for f in froms if f.startswith("apache/beam_python")]
    assert beam and beam[0].split()[0] == f"apache/beam_python{python}_sdk:{_pin('apache-beam')}"


def test_installs_exactly_requirements_txt_then_the_project():
    runs = [arg for ins, arg in _instructions() if ins == "RUN"]
    copies = [arg for ins, arg in _instructions() if ins == "COPY"]
    req = next(i for i, r in enumerate(runs) if "-r requirements.txt" in r)
    assert "--no-deps" in runs[req] and "requirements.txt ." in copies
    proj = next(i for i, r in enumerate(runs) if re.search(r"pip install --no-deps \.(\s|$)", r))
    assert proj > req
    packages = re.search(r'include=\[([^\]]*)\]', (REPO / "setup.py").read_text()).group(1)
    for pkg in re.findall(r'"(\w+)\*"', packages):
        assert f"{pkg} ./{pkg}" in copies, f"{pkg} is not copied into the image"
    assert any("setup.py" in c for c in copies)
