# A Pipe between two children: the producer sends then exits; the consumer reads to EOF
# and reports its count on a Queue. The parent closes both of its copies.
from multiprocessing import Pipe, Process, Queue

def produce(conn):
    for i in range(100):
        conn.send(i)
    conn.close()

def consume(conn, other, out):
    # Under fork (Linux's default start method in 3.11) this child inherited the
    # producer's end too: without closing it, recv() never raises EOFError (a hang).
    other.close()
    n = s = 0
    while True:
        try:
            v = conn.recv()
        except EOFError:
            break
        n, s = n + 1, s + v
    out.put((n, s))

if __name__ == "__main__":
    a, b = Pipe()
    out = Queue()
    c = Process(target=consume, args=(b, a, out))
    p = Process(target=produce, args=(a,))
    c.start(); p.start()
    a.close(); b.close()
    print("consumer got (count, sum):", out.get())
    p.join(); c.join()
