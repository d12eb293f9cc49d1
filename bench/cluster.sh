#!/usr/bin/env bash
# Cluster benchmarks (issue 15), all on this machine under `mpirun -n 2 --bind-to none`
# (rank 0 controls, rank 1 is the node agent): raw MPI ping-pong (2 ranks) and relay
# (3 ranks: 0 → 1 → 2 → 1 → 0), zeroproc's ClusterPool
# (tiny-job round trip, map unbatched and chunked, W4 over 2 ranks vs a local pool), and
# mpi4py.futures' MPIPoolExecutor, alternated ROUNDS times (default 3). mpi4py is built from
# source against the system Open MPI the first time (~3 min), here and not in CI.
# Prints every figure, then the median per key; the log goes to $CARGO_TARGET_DIR (or
# target)/cluster-bench.log.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
W4_ROUNDS=${W4_ROUNDS:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
command -v mpirun >/dev/null || { echo "mpirun missing: run .ci/cluster.sh first (it installs Open MPI)"; exit 1; }
python3 -c 'import mpi4py' 2>/dev/null || python3 -m pip install --quiet mpi4py

bin=$(cargo bench -p zeroproc-cluster --features mpi --bench cluster --no-run 2>&1 \
  | sed -n 's/.*Executable benches\/cluster.rs (\(.*\))/\1/p' | tail -n 1)
[ -x "$bin" ] || { echo "bench binary not found"; exit 1; }

log="${CARGO_TARGET_DIR:-target}/cluster-bench.log"
mkdir -p "$(dirname "$log")"
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "machine: $(nproc) vCPU,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(uname -r), $(mpirun --version | head -n 1), mpi4py $(python3 -c 'import mpi4py; print(mpi4py.__version__)')"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  MPIRUN=(mpirun -n 2 --bind-to none)
  for r in $(seq "$ROUNDS"); do
    echo "--- round $r"
    "${MPIRUN[@]}" "$bin" pingpong
    # The floor of a 3-process chain (controller → agent → worker) on this machine.
    mpirun -n 3 --oversubscribe --bind-to none "$bin" relay
    # The round trip with rank 0 on one core, the agent and its worker on the other.
    mpirun -n 2 --bind-to core -x ONLY_RTT=1 -x RTT_TAG=_bind_core "$bin" | grep -v config
    "${MPIRUN[@]}" -x ROUNDS="$W4_ROUNDS" "$bin"
    "${MPIRUN[@]}" python3 -m mpi4py.futures bench/python/mpi4py_futures.py
  done
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | tee "$log"

echo "=== medians over $ROUNDS rounds"
python3 - "$log" <<'PY'
import statistics, sys
vals, units = {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 4 and f[0] == "cluster-bench" and f[1] != "config":
        vals.setdefault(f[1], []).append(float(f[2]))
        units[f[1]] = f[3]
for k in sorted(vals):
    print(f"{k:45s} {statistics.median(vals[k]):14.2f} {units[k]}  (n={len(vals[k])})")
PY
