#!/usr/bin/env bash
# Creates .venv (Python 3.10) with the pinned requirements and Skyhawk installed in it. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

find_py310() {
  for p in "${SKYHAWK_PYTHON:-}" /root/.pyenv/versions/3.10.*/bin/python3.10 "$(command -v python3.10 || true)"; do
    [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && { echo "$p"; return; }
  done
  return 1
}

stamp=".venv/.skyhawk-requirements"
want="$(cat requirements.txt setup.py | sha256sum | cut -d' ' -f1)"
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi

PY310="$(find_py310)" || { echo "setup: Python 3.10 not found (set SKYHAWK_PYTHON)" >&2; exit 1; }
if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install -q --disable-pip-version-check uv >/dev/null 2>&1 || "$PY310" -m pip install -q uv
fi
UV="$(command -v uv || echo "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/uv")"
"$UV" venv -q --allow-existing -p "$PY310" .venv
"$UV" pip install -q -p .venv/bin/python -r requirements.txt
"$UV" pip install -q -p .venv/bin/python --no-deps -e .
echo "$want" > "$stamp"
echo "setup: .venv ready ($(.venv/bin/python --version))"
