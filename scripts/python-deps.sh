#!/usr/bin/env bash
# Installs the Python packages the `zeroproc bench` Python peers use (bench/python/):
# numpy, for the W4 Mandelbrot kernel and the W3 array. Without it `zeroproc bench` still
# runs the Python peers and omits their W4 rows (a note on stderr says so).
set -euo pipefail
PY=${PYTHON:-python3}
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "python-deps: $PY not found; the Python peers of zeroproc bench will be skipped" >&2
  exit 0
fi
if "$PY" -c 'import numpy' 2>/dev/null; then
  echo "python-deps: numpy $("$PY" -c 'import numpy; print(numpy.__version__)') already present"
  exit 0
fi
"$PY" -m pip install --user --quiet numpy || "$PY" -m pip install --quiet numpy
"$PY" -c 'import numpy; print("python-deps: numpy", numpy.__version__, "installed")'
