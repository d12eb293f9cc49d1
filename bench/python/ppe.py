"""`zeroproc bench` peer: concurrent.futures.ProcessPoolExecutor (system `python-ppe`).

Run by `zeroproc bench`; by hand: python3 bench/python/ppe.py --quick [--only W1,W2]
"""

import concurrent.futures as cf
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads  # noqa: E402


class Pool:
    def __init__(self, workers):
        self.ex = cf.ProcessPoolExecutor(max_workers=workers)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.ex.shutdown(wait=True)

    def submit_one(self, f, x):
        return self.ex.submit(f, x).result()

    def map(self, f, items, chunksize):
        return self.ex.map(f, items, chunksize=chunksize)


class Adapter:
    pool = Pool
    has_executor = True  # W5/W6 use the executor itself (Pool.ex)


if __name__ == "__main__":
    workloads.main("python-ppe", Adapter)
