# Pool jobs report progress on a Manager().Queue() that the parent drains while waiting.
from concurrent.futures import ProcessPoolExecutor, wait
from multiprocessing import Manager

def job(args):
    q, k = args
    for step in range(3):
        q.put((k, step))
    return k * 100

if __name__ == "__main__":
    with Manager() as m, ProcessPoolExecutor(max_workers=2) as ex:
        q = m.Queue()
        fs = [ex.submit(job, (q, k)) for k in range(4)]
        events = [q.get() for _ in range(12)]
        wait(fs)
        print("events:", len(events), "per job:", sorted({k: sum(1 for e in events if e[0] == k) for k in range(4)}.items()))
        print("results:", [f.result() for f in fs])
