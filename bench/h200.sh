#!/usr/bin/env bash
# One command for a lent H200 (or any bare GPU machine with jax): run a preset with a deadline and leave its results
# in OUTDIR as at most 8 files under 16 MiB, at most two folders down (what such a machine can send back):
#   results.json  report.md  records.zip  log.txt  weights/NAME/{manifest.json,part*.npz}
#
#   bash bench/h200.sh OUTDIR [PRESET] [SECONDS]     # PRESET: h200 (default) or h200-smoke; SECONDS: 540
#
# On a machine without shapely it installs the wheels carried in .whl/ (see bench/README.md; no network), puts the project on
# PYTHONPATH, turns on JAX's compilation cache, keeps progress bars out of the log, and ends the run a minute before
# SECONDS so that the files are written in time. Rerunning with the same OUTDIR's run folder resumes.
set -uo pipefail
OUT=${1:?usage: bash bench/h200.sh OUTDIR [PRESET] [SECONDS]}
PRESET=${2:-h200}
SECONDS_ALL=${3:-540}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=${SQUIGGLES_RUN_DIR:-/tmp/squiggles-run-$PRESET}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if compgen -G "$ROOT/.whl/*.whl" > /dev/null && ! python3 -c "import shapely" 2> /dev/null; then   # a bare machine: no shapely
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/squiggles-site "$ROOT"/.whl/*.whl || exit 1
  export PYTHONPATH=/tmp/squiggles-site:$ROOT${PYTHONPATH:+:$PYTHONPATH}
else
  export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1 JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/squiggles-jax-cache}
cd "$ROOT"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || echo "no nvidia-smi"
  python3 -c "import jax; print('jax', jax.__version__, jax.devices())"
  python3 -c "import sys; from squiggles_nb.cli import main; sys.exit(main())" reproduce --preset "$PRESET" --out "$RUN" \
          --deadline $((SECONDS_ALL - 60)) --no-progress
  echo "exit status $?"
} 2>&1 | grep --line-buffered -v "cuda_timer.cc" | tee "$OUT/log.txt"
python3 "$ROOT/bench/pack.py" "$RUN" "$OUT"
