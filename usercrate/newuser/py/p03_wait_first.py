# wait(return_when=FIRST_COMPLETED) in a loop until everything is done.
import time
from concurrent.futures import ProcessPoolExecutor, wait, FIRST_COMPLETED

def work(ms):
    time.sleep(ms / 1000)
    return ms

if __name__ == "__main__":
    with ProcessPoolExecutor(max_workers=3) as ex:
        pending = {ex.submit(work, ms) for ms in [500, 100, 300]}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                print(f"finished {f.result()}, {len(pending)} pending")
