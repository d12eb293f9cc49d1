# A future cancelled before it starts.
import time
from concurrent.futures import ProcessPoolExecutor, CancelledError

def work(ms):
    time.sleep(ms / 1000)
    return ms

if __name__ == "__main__":
    with ProcessPoolExecutor(max_workers=1) as ex:
        first = ex.submit(work, 300)
        time.sleep(0.1)
        second = ex.submit(work, 10)
        third = ex.submit(work, 10)
        print("cancel third:", third.cancel())
        print("third cancelled:", third.cancelled(), "done:", third.done())
        try:
            third.result()
        except CancelledError:
            print("third.result() raised CancelledError")
        print("first:", first.result(), "second:", second.result())
