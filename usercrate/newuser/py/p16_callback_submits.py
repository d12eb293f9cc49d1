# A done-callback that submits more work (a chain: each result spawns the next job
# until a limit), the main thread waiting on an Event.
import threading
from concurrent.futures import ProcessPoolExecutor

def step(n):
    return n * 2

if __name__ == "__main__":
    ex = ProcessPoolExecutor(max_workers=2)
    seen, finished = [], threading.Event()
    def on_done(f):
        v = f.result()
        seen.append(v)
        if v < 1000:
            ex.submit(step, v).add_done_callback(on_done)
        else:
            finished.set()
    ex.submit(step, 1).add_done_callback(on_done)
    finished.wait(10)
    ex.shutdown()
    print(seen)
