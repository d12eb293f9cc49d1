"""`zeroproc bench` peer: multiprocessing.Pool (system `python-mp-pool`).

Run by `zeroproc bench`; by hand: python3 bench/python/mp_pool.py --quick [--only W1,W2]
"""

import multiprocessing as mp
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads  # noqa: E402


class Pool:
    def __init__(self, workers):
        self.p = mp.Pool(workers)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.p.close()
        self.p.join()

    def submit_one(self, f, x):
        return self.p.apply_async(f, (x,)).get()

    def map(self, f, items, chunksize):
        return self.p.imap(f, items, chunksize=chunksize)


class Adapter:
    pool = Pool
    has_executor = False  # W5/W6 use the executor itself (Pool.ex)


if __name__ == "__main__":
    workloads.main("python-mp-pool", Adapter)
