# multiprocessing.Pool with an initializer that sets a per-worker global.
from multiprocessing import Pool

OFFSET = None

def init(offset):
    global OFFSET
    OFFSET = offset

def shift(x):
    return x + OFFSET

if __name__ == "__main__":
    with Pool(processes=2, initializer=init, initargs=(100,)) as pool:
        print(pool.map(shift, range(10)))
        print(pool.apply(shift, (5,)))
