"""The multiprocessing-layer peers for `cargo bench --bench mp`: multiprocessing.Queue
round trip and throughput between two processes, and a Manager().dict() used from two
processes at once. Prints ONE JSON line on stdout:

    {"system": "python-mp", "python": "3.11.7",
     "results": [{"workload": "QUEUE-RT", "metric": "p50_us", "value": 61.2}, ...],
     "sizes": {...}}

The workloads mirror crates/bench/src/workloads/mp.rs.
"""

import argparse
import json
import multiprocessing as mp
import platform
import sys
import time


def pct(sorted_ns, q):
    return sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1000.0


def echo(ping, pong):
    while True:
        v = ping.get()
        if v is None:
            return
        pong.put(v)


def queue_rt(n):
    ping, pong = mp.Queue(), mp.Queue()
    p = mp.Process(target=echo, args=(ping, pong))
    p.start()
    for i in range(200):  # warm-up
        ping.put(i)
        pong.get()
    lat = []
    for i in range(n):
        t = time.perf_counter_ns()
        ping.put(i)
        assert pong.get() == i
        lat.append(time.perf_counter_ns() - t)
    ping.put(None)
    p.join()
    lat.sort()
    return pct(lat, 0.5), pct(lat, 0.99)


def producer(q, n):
    for i in range(n):
        q.put(i)
    q.put(None)


def queue_tp(n):
    q = mp.Queue(maxsize=1024)
    p = mp.Process(target=producer, args=(q, n))
    p.start()
    first = q.get()
    t0 = time.perf_counter()
    got, expect = 1, first + 1
    while True:
        v = q.get()
        if v is None:
            break
        assert v == expect
        expect += 1
        got += 1
    dt = time.perf_counter() - t0
    p.join()
    assert got == n
    return (n - 1) / dt


def dict_worker(d, base, n, barrier):
    barrier.wait()
    for i in range(n):
        k = (base + i) % 1000
        d[k] = i
        assert d.get(k) is not None


def dict_ops(n):
    with mp.Manager() as m:
        d = m.dict()
        b = mp.Barrier(3)
        ps = [mp.Process(target=dict_worker, args=(d, j * 500, n, b)) for j in range(2)]
        for p in ps:
            p.start()
        b.wait()
        t0 = time.perf_counter()
        for p in ps:
            p.join()
        dt = time.perf_counter() - t0
        ops = 2 * 2 * n  # two processes, an insert and a get each step
        # Single-process insert latency (a write published to the manager).
        lat = []
        for i in range(n):
            t = time.perf_counter_ns()
            d[i % 1000] = i
            lat.append(time.perf_counter_ns() - t)
        lat.sort()
        return ops / dt, pct(lat, 0.5), pct(lat, 0.99)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    sizes = {
        "queue_rt": 1000 if a.quick else 5000,
        "queue_tp": 50_000 if a.quick else 200_000,
        "dict_steps_per_process": 2000 if a.quick else 10_000,
    }
    res = []
    p50, p99 = queue_rt(sizes["queue_rt"])
    res += [("QUEUE-RT", "p50_us", p50), ("QUEUE-RT", "p99_us", p99)]
    res.append(("QUEUE-TP", "items_per_s", queue_tp(sizes["queue_tp"])))
    ops, ip50, ip99 = dict_ops(sizes["dict_steps_per_process"])
    res += [("DICT-2P", "ops_per_s", ops), ("DICT-INSERT", "p50_us", ip50), ("DICT-INSERT", "p99_us", ip99)]
    out = {
        "system": "python-mp",
        "python": platform.python_version(),
        "results": [{"workload": w, "metric": m, "value": v} for (w, m, v) in res],
        "sizes": sizes,
    }
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    mp.set_start_method("fork")
    main()
