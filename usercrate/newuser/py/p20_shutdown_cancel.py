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
    # fs[2] and fs[3] vary in CPython (its call queue may hold 2 items besides the
    # running one, depending on when its manager thread ran): printed are those that do not.
    for i in (0, 1, 4):
        print(f"fs[{i}] cancelled:", fs[i].cancelled())
    print("first result:", fs[0].result())
