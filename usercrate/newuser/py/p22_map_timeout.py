# executor.map(..., timeout=1): the slow item raises TimeoutError while iterating.
import time
from concurrent.futures import ProcessPoolExecutor, TimeoutError

def work(ms):
    time.sleep(ms / 1000)
    return ms

if __name__ == "__main__":
    with ProcessPoolExecutor(max_workers=2) as ex:
        try:
            for r in ex.map(work, [50, 100, 3000, 50], timeout=1):
                print("got", r)
        except TimeoutError:
            print("map timed out")
