"""Differential pair with mp_diff.rs: multiprocessing behaviour, printed line by line."""
import multiprocessing as mp
import os, queue, signal, sys, threading, time

def p(*a):
    print(*a, flush=True)

def raises(_):
    raise ValueError("child failed")

def exits(code):
    sys.exit(code)

def sleeps(s):
    time.sleep(s)

def aborts(_):
    os.abort()

def barrier_party(b, ev):
    try:
        b.wait(timeout=5)
        ev.put("passed")
    except threading.BrokenBarrierError:
        ev.put("broken")

def pipe_child(conn):
    conn.send(41)
    conn.send(42)
    conn.close()

def holder(lock, ready, go):
    lock.acquire()
    ready.set()
    go.wait(5)
    lock.release()

def main():
    mp.set_start_method("spawn")
    # 1. Process exit codes
    for name, f, a in [("raise", raises, 0), ("exit(3)", exits, 3), ("exit(0)", exits, 0), ("abort", aborts, 0)]:
        pr = mp.Process(target=f, args=(a,))
        p(name, "before start: exitcode", pr.exitcode, "alive", pr.is_alive())
        pr.start(); pr.join()
        p(name, "exitcode", pr.exitcode, "alive", pr.is_alive())
    for sig in (signal.SIGKILL, signal.SIGTERM):
        pr = mp.Process(target=sleeps, args=(30,)); pr.start()
        pr.join(timeout=0.2)
        p("join(0.2) of a sleeper: exitcode", pr.exitcode, "alive", pr.is_alive())
        (pr.kill if sig == signal.SIGKILL else pr.terminate)()
        pr.join()
        p("after", sig.name, "exitcode", pr.exitcode)
    pr.terminate(); pr.kill(); p("terminate/kill of a joined process: ok")

    # 2. Queue
    q = mp.Queue(2)
    q.put(1); q.put(2)
    time.sleep(0.1)
    p("qsize", q.qsize(), "full", q.full(), "empty", q.empty())
    try: q.put_nowait(3)
    except queue.Full: p("put_nowait: Full")
    t = time.monotonic()
    try: q.put(3, timeout=0.2)
    except queue.Full: p("put(timeout=0.2): Full, waited>=0.19:", time.monotonic() - t >= 0.19)
    p("get", q.get(), q.get())
    try: q.get_nowait()
    except queue.Empty: p("get_nowait: Empty")
    t = time.monotonic()
    try: q.get(timeout=0.2)
    except queue.Empty: p("get(timeout=0.2): Empty, waited>=0.19:", time.monotonic() - t >= 0.19)

    # 3. JoinableQueue
    jq = mp.JoinableQueue(4)
    jq.put(1); jq.get(); jq.task_done()
    try: jq.task_done()
    except ValueError as e: p("task_done too many: ValueError", e)
    jq.join(); p("join after balanced: returns")

    # 4. Pipe
    a, b = mp.Pipe()
    c = mp.Process(target=pipe_child, args=(b,)); c.start(); b.close(); c.join()
    p("recv", a.recv(), a.recv())
    p("poll after peer closed:", a.poll(0.1))
    try: a.recv()
    except EOFError: p("recv after peer closed: EOFError")
    a, b = mp.Pipe()
    p("poll(0.1) on empty open pipe:", b.poll(0.1))
    a.close()
    try: b.recv()
    except EOFError: p("recv after local peer close: EOFError")

    # 5. Barrier
    bar = mp.Barrier(2)
    try: bar.wait(timeout=0.1)
    except threading.BrokenBarrierError: p("barrier timeout: BrokenBarrierError, broken", bar.broken)
    try: bar.wait(timeout=0.1)
    except threading.BrokenBarrierError: p("wait on broken: BrokenBarrierError")
    bar.reset(); p("after reset: broken", bar.broken, "n_waiting", bar.n_waiting, "parties", bar.parties)
    out = mp.Queue()
    kids = [mp.Process(target=barrier_party, args=(bar, out)) for _ in range(2)]
    [k.start() for k in kids]; [k.join() for k in kids]
    p("two parties:", sorted([out.get(), out.get()]))
    bar3 = mp.Barrier(3)
    kids = [mp.Process(target=barrier_party, args=(bar3, out)) for _ in range(2)]
    [k.start() for k in kids]
    time.sleep(0.5); bar3.abort()
    [k.join() for k in kids]
    p("abort with 2 of 3 waiting:", sorted([out.get(), out.get()]), "broken", bar3.broken)

    # 6. Semaphores
    s = mp.Semaphore(1); s.release()
    p("Semaphore(1) released once: value", s.get_value())
    p("acquire x2:", s.acquire(timeout=0.1), s.acquire(timeout=0.1), "third (timeout 0.1):", s.acquire(timeout=0.1))
    bs = mp.BoundedSemaphore(1)
    try: bs.release()
    except ValueError as e: p("BoundedSemaphore over-release: ValueError", e)

    # 7. Lock / RLock
    lk = mp.Lock()
    p("acquire:", lk.acquire(), "again (timeout 0.1):", lk.acquire(timeout=0.1))
    lk.release()
    try: lk.release()
    except ValueError as e: p("release unlocked: ValueError", e)
    ready, go = mp.Event(), mp.Event()
    h = mp.Process(target=holder, args=(lk, ready, go)); h.start(); ready.wait(5)
    p("held by child: acquire(timeout 0.1):", lk.acquire(timeout=0.1))
    go.set(); h.join()
    p("after child released: acquire(timeout 1):", lk.acquire(timeout=1)); lk.release()
    rl = mp.RLock()
    p("rlock acquire x2:", rl.acquire(), rl.acquire()); rl.release(); rl.release()
    try: rl.release()
    except AssertionError as e: p("rlock release unowned: AssertionError", e)

    # 8. Event
    ev = mp.Event()
    p("event wait(0.1):", ev.wait(0.1), "is_set", ev.is_set())
    ev.set(); p("after set wait(0.1):", ev.wait(0.1)); ev.clear(); p("after clear is_set:", ev.is_set())

    # 9. Condition
    cond = mp.Condition()
    with cond:
        p("wait_for false pred (timeout 0.1):", cond.wait_for(lambda: False, timeout=0.1))
        p("wait(0.1):", cond.wait(0.1))
    try: cond.notify()
    except AssertionError as e: p("notify without lock: AssertionError", e)

    # 10. Manager containers
    with mp.Manager() as m:
        d = m.dict()
        d["a"] = 1
        p("dict get missing:", d.get("b"), "len", len(d), "'a' in d", "a" in d)
        try: d["b"]
        except KeyError as e: p("dict [missing]: KeyError", e)
        try: del d["b"]
        except KeyError as e: p("del missing: KeyError", e)
        p("pop:", d.pop("a"), "len", len(d))
        l = m.list()
        l.append(1); l.append(2)
        try: l[5]
        except IndexError as e: p("list [5]: IndexError", e)
        p("list pop:", l.pop(), l.pop())
        try: l.pop()
        except IndexError as e: p("pop empty: IndexError", e)
        ns = m.Namespace(); ns.x = 1
        p("ns.x", ns.x)
        try: ns.y
        except AttributeError as e: p("ns.y missing: AttributeError")
if __name__ == "__main__":
    main()
