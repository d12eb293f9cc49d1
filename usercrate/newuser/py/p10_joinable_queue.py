# A JoinableQueue worker pool: daemon workers, task_done per item, join waits for all.
from multiprocessing import Process, JoinableQueue, Queue

def worker(tasks, results):
    while True:
        n = tasks.get()
        results.put((n, sum(range(n))))
        tasks.task_done()

if __name__ == "__main__":
    tasks, results = JoinableQueue(), Queue()
    for _ in range(3):
        Process(target=worker, args=(tasks, results), daemon=True).start()
    for n in range(1, 21):
        tasks.put(n * 1000)
    tasks.join()
    out = sorted(results.get() for _ in range(20))
    print(out[:3], "...", out[-1])
    print("results:", len(out))
