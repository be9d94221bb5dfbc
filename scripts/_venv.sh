# Sourced by scripts/demo and scripts/test: create .venv on first use and keep it in step with pyproject.toml.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="${AISPM_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -c 'import sys; assert sys.version_info >= (3, 11), "aispm needs Python 3.11+"'
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.aispm-installed"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[all,dev]"
  touch "$STAMP"
fi
