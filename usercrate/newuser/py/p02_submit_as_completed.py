# submit() each job, then handle results as they complete.
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

def work(ms):
    time.sleep(ms / 1000)
    return ms * 2

if __name__ == "__main__":
    with ProcessPoolExecutor(max_workers=4) as ex:
        futs = {ex.submit(work, ms): ms for ms in [600, 100, 400, 250]}
        for f in as_completed(futs):
            print(f"job {futs[f]} -> {f.result()}")
