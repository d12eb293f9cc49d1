"""W5 (uneven jobs) and W6 (a service under faults) for concurrent.futures'
ProcessPoolExecutor, on the job lists `zeroproc bench` writes (`--jobs FILE`: the same
seeded target durations, and W6 request kinds and inputs, as the Rust side's).

A pure-Python iteration costs far more than a Rust one, so the spin loop here is
calibrated on its own to the same target DURATIONS (not the same iteration counts).

W6: ProcessPoolExecutor has no per-job time-out and cannot survive a dead worker: the
first crash raises BrokenProcessPool for every pending future and the executor is
unusable, and a hung job occupies its worker for good. The client stops at the first
broken pool (or after 2 s without any completion) and reports how far it got.
"""

import concurrent.futures as cf
import ctypes
import os
import statistics
import time
from concurrent.futures.process import BrokenProcessPool

import sys

MASK = (1 << 64) - 1
WINDOW = 8
TIMEOUT_S = 0.1
STALL_S = 2.0


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def spin(n):
    x = 0.5
    for _ in range(n):
        x = x * 0.9999999 + 0.5
    return x


def timed_spin(n):
    """A W5 job: the spin and the ns it took in the worker."""
    t = time.perf_counter_ns()
    x = spin(n)
    return x, time.perf_counter_ns() - t


def calibrate_ns_per_iter():
    n = 1_000_000
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter_ns()
        spin(n)
        best = min(best, (time.perf_counter_ns() - t) / n)
    return best


def iters_for(ns, ns_per_iter):
    return max(1, round(ns / ns_per_iter))


def mix(z):
    """splitmix64's output function, as crates/bench/src/workloads/spin.rs."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def answer(rid, nonce):
    return mix(rid ^ mix(nonce))


def serve(req):
    """One W6 request in a worker: 0 normal, 1 abort, 2 segfault, 3 hang."""
    rid, iters, kind, nonce = req
    if kind == 1:
        os.abort()
    elif kind == 2:
        ctypes.string_at(0)
    elif kind == 3:
        while True:
            pass
    spin(iters)
    return rid, answer(rid, nonce)


def w5(b, jobs):
    """Makespans of submit-all + wait and of map (chunksize 1), interleaved passes."""
    ns = calibrate_ns_per_iter()
    iters = [iters_for(d, ns) for d in jobs["W5_durations_ns"]]
    rounds = jobs["W5_rounds"]
    log(f"python-ppe: W5 {len(iters)} uneven jobs, 2 workers, {rounds} pass(es), "
          f"{ns:.1f} ns per Python iteration")
    b.sizes["W5_jobs"] = len(iters)
    b.sizes["W5_ns_per_python_iteration"] = round(ns, 2)
    times = {"submit": [], "map": []}
    sums = set()
    work = []
    with b.a.pool(2) as p:
        list(p.ex.map(spin, [1] * 8))
        for _ in range(rounds):
            t = time.perf_counter()
            futs = [p.ex.submit(timed_spin, n) for n in iters]
            cf.wait(futs)
            times["submit"].append(time.perf_counter() - t)
            rs = [f.result() for f in futs]
            t = time.perf_counter()
            rm = list(p.ex.map(timed_spin, iters))
            times["map"].append(time.perf_counter() - t)
            for r in (rs, rm):
                sums.add(sum(x for x, _ in r))
                work.append(sum(ns for _, ns in r) / 1e9)
    if len(sums) != 1:
        raise RuntimeError(f"W5 passes disagree: {sums}")
    b.put("W5", "makespan_s", statistics.median(times["submit"]))
    b.put("W5", "map_makespan_s", statistics.median(times["map"]))
    target = sum(jobs["W5_durations_ns"]) / 1e9
    measured = statistics.median(work)
    b.sizes["W5_python_work_s_measured"] = round(measured, 3)
    b.notes.append(f"W5: the pure-Python spin is calibrated to the same target durations "
                   f"as the Rust jobs (not the same iteration counts): {target:.2f} s of "
                   f"CPU per pass targeted, {measured:.2f} s measured in the workers "
                   f"(median over passes)")


class Tally:
    def __init__(self):
        self.lat = []
        self.counts = dict(ok=0, lost=0, mis_answered=0, crash_broken_pool=0,
                           hang_client_timeout=0)
        self.broken_at = None

    def settle(self, req, fut, t0):
        rid, _, kind, nonce = req
        try:
            r = fut.result(timeout=0)
        except BrokenProcessPool:
            if self.broken_at is None:
                self.broken_at = rid
            key = "crash_broken_pool" if kind in (1, 2) else "lost"
            self.counts[key] += 1
            return
        except Exception:  # noqa: BLE001 - any other failure loses the request
            self.counts["lost"] += 1
            return
        if kind == 0 and r == (rid, answer(rid, nonce)):
            self.counts["ok"] += 1
            self.lat.append((time.perf_counter() - t0) * 1e6)
        else:
            self.counts["mis_answered"] += 1


def w6_client(ex, reqs, tally):
    """8 in flight; stops at a broken pool or a stall. Returns requests submitted."""
    inflight = {}
    nxt = 0
    last = time.perf_counter()
    while (nxt < len(reqs) or inflight) and tally.broken_at is None:
        while nxt < len(reqs) and len(inflight) < WINDOW:
            try:
                inflight[ex.submit(serve, reqs[nxt])] = (reqs[nxt], time.perf_counter())
            except BrokenProcessPool:
                # The executor noticed the dead worker before any future failed: submit
                # raises from then on (the smoke run of CI hit this once).
                if tally.broken_at is None:
                    tally.broken_at = reqs[nxt][0]
                break
            nxt += 1
        if tally.broken_at is not None and not inflight:
            break
        done, _ = cf.wait(inflight, timeout=TIMEOUT_S, return_when=cf.FIRST_COMPLETED)
        for f in done:
            req, t0 = inflight.pop(f)
            tally.settle(req, f, t0)
        now = time.perf_counter()
        if done:
            last = now
        for f, (req, t0) in list(inflight.items()):
            if req[2] == 3 and now - t0 > TIMEOUT_S:
                tally.counts["hang_client_timeout"] += 1
                inflight.pop(f)  # abandoned; its worker spins on
        if now - last > STALL_S:
            break
    done, not_done = cf.wait(inflight, timeout=0.5)
    for f in done:
        req, t0 = inflight.pop(f)
        tally.settle(req, f, t0)
    tally.counts["lost"] += len(not_done)
    return nxt


def kill_pool(ex):
    for proc in list(getattr(ex, "_processes", {}).values()):
        proc.kill()
    ex.shutdown(wait=False, cancel_futures=True)


def w6(b, jobs):
    ns = calibrate_ns_per_iter()
    reqs = [(rid, iters_for(d, ns), kind, nonce)
            for rid, d, kind, nonce in jobs["W6_requests"]]
    log(f"python-ppe: W6 {len(reqs)} requests, {WINDOW} in flight, 2 workers (no per-job time-out)")
    b.sizes["W6_requests"] = len(reqs)
    tally = Tally()
    ex = cf.ProcessPoolExecutor(max_workers=2)
    list(ex.map(spin, [1] * 8))
    t = time.perf_counter()
    try:
        sent = w6_client(ex, reqs, tally)
    finally:
        wall = time.perf_counter() - t
        kill_pool(ex)
    answered = tally.counts["ok"]
    # Figures of a run cut short by a broken pool are not comparable with a full run's:
    # they get their own metric names (no ratio in the table).
    pre = "until_broken_" if tally.broken_at is not None else ""
    b.put("W6", f"{pre}requests_per_s", answered / wall)
    if tally.lat:
        lat = sorted(tally.lat)
        b.put("W6", f"{pre}p50_us", lat[len(lat) // 2])
        b.put("W6", f"{pre}p99_us", lat[min(len(lat) - 1, int(0.99 * len(lat)))])
        b.put("W6", f"{pre}max_us", lat[-1])
    for k, v in tally.counts.items():
        b.put("W6", f"{k}_count", v)
    b.put("W6", "unsent_count", len(reqs) - sent)
    if tally.broken_at is not None:
        b.notes.append(f"W6: pool broken (BrokenProcessPool) after {answered} answered "
                       f"requests (first failed future seen: request {tally.broken_at}); "
                       f"{len(reqs) - sent} never sent; the until_broken_ figures cover "
                       f"the answered requests only")
    elif sent < len(reqs) or answered < len(reqs):
        b.notes.append(f"W6: stalled (hung workers) after {answered} answered requests")
