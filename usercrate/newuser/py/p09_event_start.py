# Workers wait for an Event before starting; the parent sets it.
import time
from multiprocessing import Process, Event, Queue

def worker(i, start, out):
    start.wait()
    out.put(i)

if __name__ == "__main__":
    start, out = Event(), Queue()
    ps = [Process(target=worker, args=(i, start, out)) for i in range(3)]
    for p in ps:
        p.start()
    time.sleep(0.2)
    print("before set: queue empty =", out.empty())
    start.set()
    got = sorted(out.get() for _ in ps)
    for p in ps:
        p.join()
    print("after set:", got)
