"""The `zeroproc bench` workloads for Python's process pools.

`ppe.py` (concurrent.futures.ProcessPoolExecutor) and `mp_pool.py` (multiprocessing.Pool)
run these through one small adapter each and print ONE JSON line on stdout:

    {"system": "python-ppe", "python": "3.11.7", "numpy": "2.4.6" | null,
     "results": [{"workload": "W1", "metric": "p50_us", "value": 123.4}, ...],
     "curves": {"W1": [[0.5, 123.4], ...]},      # latency percentiles (quantile, µs)
     "checks": {"W4_checksum": 123},              # for the Rust side to compare
     "sizes": {"W2_unbatched_jobs": 20000, ...},  # what was actually run
     "notes": ["..."]}

Everything else goes to stderr. The workloads mirror crates/bench/src/workloads:
W1 tiny-job round trip (1 worker), W2 x -> 2x unbatched and chunked (2 workers),
W3 a 256 MiB float64 array pickled to a worker that sums it (1 worker), W4 Mandelbrot
2048x2048, 256 iterations, 64 row bands on 1 and 2 workers (numpy kernel), START pool
start to first result (2 workers); W5 uneven jobs and W6 a service under faults
(ProcessPoolExecutor only, see uneven_faults.py).
"""

import argparse
import json
import platform
import statistics
import sys
import time
from array import array

import uneven_faults

try:
    import numpy as np
except ImportError:  # W4 is skipped and W3 uses array('d') without it
    np = None

# Mandelbrot geometry: the same as crates/bench/src/workloads/pool.rs.
MANDEL_SIZE = 2048
MANDEL_ITERS = 256
MANDEL_BANDS = 64

QUANTILES = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- job functions (module level: they are pickled by name) ----------------------------


def triple(x):
    return x * 3


def double(x):
    return 2 * x


def inc(x):
    return x + 1


def sum_array(a):
    """Sums the array in the worker: (sum, ns spent summing)."""
    t = time.perf_counter_ns()
    s = float(a.sum()) if np is not None and isinstance(a, np.ndarray) else sum(a)
    return s, time.perf_counter_ns() - t


def mandel_band(args):
    """One band of the image: the sum of min(iterations, 255) over its pixels, computed
    exactly as the Rust kernel does (same operation order, no FMA: the same counts)."""
    band, size, iters, bands = args
    rows = size // bands
    y = np.arange(band * rows, (band + 1) * rows, dtype=np.float64)
    x = np.arange(size, dtype=np.float64)
    ci = np.repeat(y / size * 3.0 - 1.5, size)
    cr = np.tile(x / size * 3.5 - 2.5, rows)
    n = rows * size
    zr = np.zeros(n)
    zi = np.zeros(n)
    counts = np.full(n, iters, dtype=np.int64)
    idx = np.arange(n)
    for i in range(iters):
        zr2 = zr * zr
        zi2 = zi * zi
        alive = zr2 + zi2 <= 4.0
        if not alive.all():
            counts[idx[~alive]] = i
            idx, zr, zi, zr2, zi2, cr, ci = (
                v[alive] for v in (idx, zr, zi, zr2, zi2, cr, ci)
            )
            if idx.size == 0:
                break
        zi = 2.0 * zr * zi + ci
        zr = zr2 - zi2 + cr
    return int(np.minimum(counts, 255).sum())


# ---- measurement helpers -------------------------------------------------------------


def quantile(sorted_v, q):
    if not sorted_v:
        return float("nan")
    i = min(len(sorted_v) - 1, int(q * len(sorted_v)))
    return sorted_v[i]


class Bench:
    def __init__(self, system, adapter, args):
        self.system = system
        self.a = adapter
        self.args = args
        self.results = []
        self.curves = {}
        self.checks = {}
        self.sizes = {}
        self.notes = []

    def put(self, workload, metric, value):
        self.results.append({"workload": workload, "metric": metric, "value": value})

    def want(self, w):
        return self.args.only is None or w in self.args.only

    def sizes_for(self):
        if self.args.smoke:
            return dict(w1=200, w2u=2000, w2c=100_000, chunk=10_000, w3_mib=8, w3_rep=1,
                        w4=(256, 64, 64), w4_rep=1, start=1)
        if self.args.quick:
            return dict(w1=2000, w2u=20_000, w2c=1_000_000, chunk=10_000, w3_mib=256,
                        w3_rep=1, w4=(MANDEL_SIZE, MANDEL_ITERS, MANDEL_BANDS), w4_rep=1,
                        start=5)
        return dict(w1=20_000, w2u=200_000, w2c=10_000_000, chunk=10_000, w3_mib=256,
                    w3_rep=3, w4=(MANDEL_SIZE, MANDEL_ITERS, MANDEL_BANDS), w4_rep=3,
                    start=10)

    def run(self):
        s = self.sizes_for()
        if self.want("W1"):
            self.w1(s["w1"])
        if self.want("W2"):
            self.w2(s["w2u"], s["w2c"], s["chunk"])
        if self.want("W3"):
            self.w3(s["w3_mib"], s["w3_rep"])
        if self.want("W4"):
            self.w4(s["w4"], s["w4_rep"])
        if self.want("START"):
            self.start(s["start"])
        for w, run in (("W5", uneven_faults.w5), ("W6", uneven_faults.w6)):
            if self.want(w) and self.args.jobs is None:
                self.notes.append(f"{w} skipped: no --jobs file (written by zeroproc bench)")
            elif self.want(w) and not self.a.has_executor:
                self.notes.append(f"{w} skipped: only the ProcessPoolExecutor peer runs it")
            elif self.want(w):
                run(self, self.args.jobs)

    def w1(self, samples):
        log(f"{self.system}: W1 {samples} round trips, 1 worker")
        self.sizes["W1_samples"] = samples
        with self.a.pool(1) as p:
            for i in range(max(100, samples // 10)):
                p.submit_one(triple, i)
            lat = []
            for i in range(samples):
                t = time.perf_counter_ns()
                r = p.submit_one(triple, i)
                lat.append((time.perf_counter_ns() - t) / 1e3)
                if r != 3 * i:
                    raise RuntimeError(f"W1 wrong result {r}")
        lat.sort()
        self.put("W1", "p50_us", quantile(lat, 0.5))
        self.put("W1", "p99_us", quantile(lat, 0.99))
        self.curves["W1"] = [[q, quantile(lat, q)] for q in QUANTILES]

    def w2(self, unbatched, chunked, chunk):
        log(f"{self.system}: W2 {unbatched} unbatched jobs, {chunked} items in chunks of "
            f"{chunk}, 2 workers")
        self.sizes["W2_unbatched_jobs"] = unbatched
        self.sizes["W2_chunked_items"] = chunked
        self.sizes["W2_chunk_size"] = chunk
        with self.a.pool(2) as p:
            p.map(double, range(1000), 1)  # workers up and warm
            for n, c, metric in ((unbatched, 1, "jobs_per_s"),
                                 (chunked, chunk, "chunked_items_per_s")):
                t = time.perf_counter()
                total = sum(p.map(double, range(n), c))
                secs = time.perf_counter() - t
                if total != n * (n - 1):
                    raise RuntimeError(f"W2 wrong sum {total}")
                self.put("W2", metric, n / secs)

    def w3(self, mib, repeats):
        n = mib * (1 << 20) // 8
        if np is not None:
            data = (np.arange(n, dtype=np.int64) % 1000).astype(np.float64)
            kind = "numpy float64 array"
        else:
            pattern = array("d", [float(i) for i in range(1000)])
            data = pattern * (n // 1000)
            data.extend(pattern[: n % 1000])
            kind = "array('d')"
            self.notes.append("W3: numpy missing, the array is an array('d') summed by "
                              "the builtin sum()")
        log(f"{self.system}: W3 {mib} MiB {kind}, 1 worker, {repeats} hand-off(s)")
        self.sizes["W3_mib"] = mib
        t = time.perf_counter()
        local = float(data.sum()) if np is not None else sum(data)
        local_ms = (time.perf_counter() - t) * 1e3
        runs = []
        with self.a.pool(1) as p:
            p.submit_one(inc, 1)
            for _ in range(repeats):
                t = time.perf_counter()
                s, busy_ns = p.submit_one(sum_array, data)
                total = time.perf_counter() - t
                if s != local:
                    raise RuntimeError(f"W3 sum {s} != {local}")
                runs.append((total * 1e3, total * 1e3 - busy_ns / 1e6))
        runs.sort(key=lambda r: r[1])
        total_ms, overhead_ms = runs[len(runs) // 2]
        self.put("W3", "total_ms", total_ms)
        self.put("W3", "overhead_ms", overhead_ms)
        self.put("W3", "local_sum_ms", local_ms)

    def w4(self, geometry, repeats):
        size, iters, bands = geometry
        if np is None:
            self.notes.append("W4 skipped: numpy is not installed (scripts/python-deps.sh)")
            log(f"{self.system}: W4 skipped, numpy missing")
            return
        log(f"{self.system}: W4 Mandelbrot {size}x{size}, {iters} iterations, {bands} "
            f"bands (numpy kernel), 1 and 2 workers, {repeats} pass(es)")
        self.sizes["W4_size"] = size
        self.sizes["W4_iters"] = iters
        self.sizes["W4_bands"] = bands
        jobs = [(b, size, iters, bands) for b in range(bands)]
        times = {1: [], 2: []}
        checks = set()
        with self.a.pool(1) as p1, self.a.pool(2) as p2:
            p1.map(inc, range(4), 1)
            p2.map(inc, range(4), 1)
            for _ in range(repeats):
                for w, p in ((1, p1), (2, p2)):
                    t = time.perf_counter()
                    checks.add(sum(p.map(mandel_band, jobs, 1)))
                    times[w].append(time.perf_counter() - t)
        if len(checks) != 1:
            raise RuntimeError(f"W4 passes disagree: {checks}")
        self.checks["W4_checksum"] = checks.pop()
        self.put("W4", "time_1w_s", statistics.median(times[1]))
        self.put("W4", "time_2w_s", statistics.median(times[2]))

    def start(self, samples):
        log(f"{self.system}: START {samples} sample(s), 2 workers")
        ts = []
        for i in range(samples):
            t = time.perf_counter()
            with self.a.pool(2) as p:
                r = p.submit_one(inc, i)
                ts.append((time.perf_counter() - t) * 1e3)
            if r != i + 1:
                raise RuntimeError("START wrong result")
            time.sleep(0.005)
        self.put("START", "pool_start_ms", statistics.median(ts))


def load_jobs(path):
    with open(path) as f:
        return json.load(f)


def main(system, adapter):
    ap = argparse.ArgumentParser(description=f"zeroproc bench peer: {system}")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes (tests)")
    ap.add_argument("--only", type=lambda s: s.split(","), default=None,
                    help="comma-separated workloads: W1,W2,W3,W4,START,W5,W6")
    ap.add_argument("--jobs", type=load_jobs, default=None,
                    help="the W5/W6 job lists (JSON) written by zeroproc bench")
    b = Bench(system, adapter, ap.parse_args())
    b.run()
    out = {
        "system": system,
        "python": platform.python_version(),
        "numpy": None if np is None else np.__version__,
        "results": b.results,
        "curves": b.curves,
        "checks": b.checks,
        "sizes": b.sizes,
        "notes": b.notes,
    }
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
