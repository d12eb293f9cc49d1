# Process + Queue: one producer, two consumers, None as the sentinel.
from multiprocessing import Process, Queue

def producer(q, n, consumers):
    for i in range(n):
        q.put(i)
    for _ in range(consumers):
        q.put(None)

def consumer(q, out):
    total = 0
    while True:
        item = q.get()
        if item is None:
            break
        total += item * item
    out.put(total)

if __name__ == "__main__":
    q, out = Queue(), Queue()
    cs = [Process(target=consumer, args=(q, out)) for _ in range(2)]
    p = Process(target=producer, args=(q, 1000, len(cs)))
    for c in cs:
        c.start()
    p.start()
    totals = [out.get() for _ in cs]
    p.join()
    for c in cs:
        c.join()
    print("sum of squares:", sum(totals))
    print("exit codes:", p.exitcode, [c.exitcode for c in cs])
