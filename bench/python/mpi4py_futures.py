"""mpi4py.futures (MPIPoolExecutor), the Python anchor for zeroproc's ClusterPool (issue 15).

Run: mpirun -n 2 python3 -m mpi4py.futures bench/python/mpi4py_futures.py
(rank 0 runs this script, rank 1 is the one worker). Prints `cluster-bench` lines like
crates/cluster/benches/cluster.rs, keys prefixed with `mpi4py_`.
"""
import time
from mpi4py.futures import MPIPoolExecutor

RTT_JOBS = 5000


def inc(x):
    return x + 1


def double(x):
    return 2 * x


def pct(samples, q):
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def main():
    with MPIPoolExecutor() as ex:
        for i in range(200):  # warm-up (workers start lazily)
            assert ex.submit(inc, i).result() == i + 1
        rtt = []
        for i in range(RTT_JOBS):
            t = time.perf_counter()
            r = ex.submit(inc, i).result()
            rtt.append(time.perf_counter() - t)
            assert r == i + 1
        print(f"cluster-bench mpi4py_tiny_job_round_trip_p50 {pct(rtt, 0.5) * 1e6:.2f} us")
        print(f"cluster-bench mpi4py_tiny_job_round_trip_p99 {pct(rtt, 0.99) * 1e6:.2f} us")
        for items, chunk in ((5000, 1), (2_000_000, 1000)):
            t = time.perf_counter()
            total = sum(ex.map(double, range(items), chunksize=chunk))
            secs = time.perf_counter() - t
            assert total == sum(2 * x for x in range(items))
            print(f"cluster-bench mpi4py_map_chunk{chunk}_items_per_s {items / secs:.0f} items/s")


if __name__ == "__main__":
    main()
