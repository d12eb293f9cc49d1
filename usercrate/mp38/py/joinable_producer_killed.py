# Python twin of mp38's joinable_producer_killed: a producer putting in a loop into
# JoinableQueue(4) is SIGKILLed while a consumer drains it; does join() return?
import multiprocessing as mp, os, signal, threading, time

def producer(q):
    i = 0
    while True:
        q.put(i); i += 1

def consumer(q):
    while True:
        q.get(); q.task_done()

if __name__ == "__main__":
    stuck, rounds = 0, 30
    for r in range(rounds):
        q = mp.JoinableQueue(4)
        c = mp.Process(target=consumer, args=(q,), daemon=True); c.start()
        p = mp.Process(target=producer, args=(q,)); p.start()
        time.sleep(0.002 + 0.000977 * r + 0.1)  # + interpreter start-up
        os.kill(p.pid, signal.SIGKILL); p.join()
        t = threading.Thread(target=q.join, daemon=True); t.start(); t.join(2)
        if t.is_alive():
            stuck += 1
        c.kill(); c.join()
    print(f"join stuck after {stuck} of {rounds} producer kills")
    os._exit(0)
