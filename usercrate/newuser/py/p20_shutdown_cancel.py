# shutdown(wait=True, cancel_futures=True) with jobs still queued.
import time
from concurrent.futures import ProcessPoolExecutor

def work(ms):
    time.sleep(ms / 1000)
    return ms

if __name__ == "__main__":
    ex = ProcessPoolExecutor(max_workers=1)
    fs = [ex.submit(work, 300) for _ in range(5)]
    time.sleep(0.1)
    ex.shutdown(wait=True, cancel_futures=True)
    print("cancelled:", [f.cancelled() for f in fs])
    print("first result:", fs[0].result())
