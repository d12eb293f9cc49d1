"""Differential pair with futures_diff.rs: concurrent.futures behaviour, printed line by line."""
import concurrent.futures as cf
import os, sys, time

def nap(ms):
    time.sleep(ms / 1000)
    return ms

def boom(x):
    if x == 3:
        raise ValueError(f"bad item {x}")
    time.sleep(0.01)
    return x

def p(*a):
    print(*a, flush=True)

def main():
    ex = cf.ProcessPoolExecutor(2)
    list(ex.map(nap, [1, 1]))  # warm up

    # 1. mixed lengths: a 2 s job and 50 1 ms jobs on 2 workers
    t0 = time.monotonic()
    long = ex.submit(nap, 2000)
    shorts = [ex.submit(nap, 1) for _ in range(50)]
    cf.wait(shorts)
    p("mixed: shorts done before long:", not long.done(), "shorts<1s:", time.monotonic() - t0 < 1.0)
    long.result()

    # 2. states
    a = ex.submit(nap, 300); b = ex.submit(nap, 300); c = ex.submit(nap, 300)
    time.sleep(0.1)
    p("states running a,b,c:", a.running(), b.running(), c.running())
    p("cancel c:", c.cancel(), "c cancelled/done/running:", c.cancelled(), c.done(), c.running())
    p("cancel a (running):", a.cancel())
    try:
        p("c.result():", c.result())
    except cf.CancelledError:
        p("c.result(): CancelledError")
    try:
        a.result(timeout=0.01)
    except cf.TimeoutError:
        p("a.result(0.01): TimeoutError; a.done:", a.done())
    p("a.result():", a.result(), "b:", b.result())

    # 3. exception()
    f = ex.submit(boom, 3)
    e = f.exception()
    p("exception():", type(e).__name__, e)
    p("exception() of ok:", ex.submit(boom, 1).exception())

    # 4. wait
    fs = [ex.submit(nap, 500), ex.submit(boom, 3), ex.submit(nap, 50)]
    done, nd = cf.wait(fs, return_when=cf.FIRST_EXCEPTION)
    p("FIRST_EXCEPTION done idx:", sorted(fs.index(x) for x in done))
    cf.wait(fs)
    fs = [ex.submit(nap, 400), ex.submit(nap, 30)]
    done, nd = cf.wait(fs, return_when=cf.FIRST_COMPLETED)
    p("FIRST_COMPLETED done idx:", sorted(fs.index(x) for x in done), "not_done:", sorted(fs.index(x) for x in nd))
    cf.wait(fs)
    fs = [ex.submit(nap, 400), ex.submit(nap, 30)]
    done, nd = cf.wait(fs, timeout=0.15, return_when=cf.ALL_COMPLETED)
    p("ALL_COMPLETED timeout done idx:", sorted(fs.index(x) for x in done), "not_done:", sorted(fs.index(x) for x in nd))
    cf.wait(fs)
    # FIRST_EXCEPTION with no exception: all complete
    fs = [ex.submit(nap, 20), ex.submit(nap, 40)]
    done, nd = cf.wait(fs, return_when=cf.FIRST_EXCEPTION)
    p("FIRST_EXCEPTION no error: done", len(done), "not_done", len(nd))
    # FIRST_EXCEPTION where a future is already cancelled
    blocker = [ex.submit(nap, 300), ex.submit(nap, 300)]
    q = ex.submit(nap, 10)
    p("cancel queued:", q.cancel())
    done, nd = cf.wait([q, blocker[0]], return_when=cf.FIRST_EXCEPTION)
    p("FIRST_EXCEPTION with cancelled: done", len(done), "not_done", len(nd))
    done, nd = cf.wait([q, blocker[0]], return_when=cf.FIRST_COMPLETED)
    p("FIRST_COMPLETED with cancelled: done", len(done), "not_done", len(nd))
    cf.wait(blocker)
    # empty wait
    done, nd = cf.wait([], return_when=cf.FIRST_COMPLETED)
    p("empty wait:", len(done), len(nd))

    # 5. as_completed with timeout
    fs = [ex.submit(nap, 30), ex.submit(nap, 1000)]
    got = []
    try:
        for f in cf.as_completed(fs, timeout=0.3):
            got.append(f.result())
    except cf.TimeoutError:
        p("as_completed: TimeoutError after", got)
    cf.wait(fs)
    # duplicates in as_completed
    f = ex.submit(nap, 10)
    p("as_completed duplicates yields:", len(list(cf.as_completed([f, f, f]))))
    done, nd = cf.wait([f, f])
    p("wait duplicates done:", len(done))

    # 6. map with an exception in the middle
    out = []
    try:
        for r in ex.map(boom, range(6)):
            out.append(r)
    except ValueError as e:
        p("map: raised", repr(e), "after", out)
    # map with timeout
    out = []
    try:
        for r in ex.map(nap, [10, 10, 1500, 10], timeout=0.5):
            out.append(r)
    except cf.TimeoutError:
        p("map timeout: TimeoutError after", out)
    time.sleep(1.6)

    # 7. callbacks
    f = ex.submit(nap, 10); f.result()
    seen = []
    f.add_done_callback(lambda fut: seen.append(("cb", fut.result())))
    p("callback on done future ran at once:", seen)
    f = ex.submit(boom, 3)
    seen2 = []
    f.add_done_callback(lambda fut: seen2.append(type(fut.exception()).__name__))
    cf.wait([f]); time.sleep(0.05)
    p("callback on failed:", seen2)
    f = ex.submit(nap, 500); g = ex.submit(nap, 500); h = ex.submit(nap, 10)
    seen3 = []
    h.add_done_callback(lambda fut: seen3.append(fut.cancelled()))
    p("cancel h:", h.cancel(), "cb saw cancelled:", seen3)
    cf.wait([f, g])

    # 8. shutdown(wait=False, cancel_futures=True)
    fs = [ex.submit(nap, 300) for _ in range(6)]
    time.sleep(0.1)
    ex.shutdown(wait=False, cancel_futures=True)
    p("after shutdown(cancel_futures): running", [f.running() for f in fs], "cancelled", [f.cancelled() for f in fs])
    p("results:", [("C" if f.cancelled() else f.result()) for f in fs])
    try:
        ex.submit(nap, 1)
    except RuntimeError as e:
        p("submit after shutdown: RuntimeError", e)
    try:
        ex.map(nap, [1])
    except RuntimeError as e:
        p("map after shutdown: RuntimeError", e)
    ex.shutdown()
    ex.shutdown(wait=True)
    p("shutdown twice: ok")

    # 9. hostile: exit(0) in a job, infinite loop never ends
    ex = cf.ProcessPoolExecutor(2)
    f = ex.submit(os._exit, 0)
    try:
        f.result()
    except Exception as e:
        p("os._exit(0) job:", type(e).__name__)
    ex.shutdown()
if __name__ == "__main__":
    main()
