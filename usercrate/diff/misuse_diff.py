"""Differential pair with misuse_diff.rs: hostile jobs and misuse, printed line by line."""
import concurrent.futures as cf
import multiprocessing as mp
import ctypes, os, time

def p(*a):
    print(*a, flush=True)

def nap(ms):
    time.sleep(ms / 1000)
    return ms

def segv(_):
    ctypes.string_at(0)

def sleeps(s):
    time.sleep(s)

def main():
    # hostile jobs on 2 workers (each in its own executor: Python's pool breaks)
    ex = cf.ProcessPoolExecutor(2)
    f = ex.submit(segv, 0)
    try: f.result()
    except Exception as e: p("segfault job:", type(e).__name__)
    ex.shutdown()

    ex = cf.ProcessPoolExecutor(2)
    # as_completed with a cancelled future and an already done one
    a = ex.submit(nap, 300); b = ex.submit(nap, 300); c = ex.submit(nap, 300); d = ex.submit(nap, 10)
    p("cancel d:", d.cancel())
    order = [ {a: "a", b: "b", c: "c", d: "d"}[f] for f in cf.as_completed([d, a]) ]
    p("as_completed cancelled first:", order)
    cf.wait([a, b, c])
    # as_completed on all-done futures with timeout 0
    p("as_completed(done, timeout=0):", len(list(cf.as_completed([a, b], timeout=0))))
    # wait with timeout 0 on running futures
    x = ex.submit(nap, 200)
    done, nd = cf.wait([x, a], timeout=0)
    p("wait(timeout=0): done", len(done), "not_done", len(nd))
    x.result()
    # result(timeout=0) on a done future
    p("result(timeout=0) of done:", a.result(timeout=0))
    # callback on a cancelled future runs at once
    seen = []
    d.add_done_callback(lambda f: seen.append(f.cancelled()))
    p("callback on cancelled future ran at once:", seen)
    # cancel twice, cancel done
    p("cancel cancelled again:", d.cancel(), "cancel done:", a.cancel())
    # map consumed partially, then shutdown(wait=True)
    it = ex.map(nap, [50] * 6)
    p("first of map:", next(it))
    ex.shutdown(wait=True)
    p("rest of map after shutdown:", list(it))
    ex.shutdown(wait=True)

    # Process misuse
    pr = mp.Process(target=sleeps, args=(0,))
    try: pr.join()
    except AssertionError as e: p("join before start: AssertionError", e)
    pr.start()
    try: pr.start()
    except AssertionError as e: p("start twice: AssertionError", e)
    pr.join(); pr.join(); p("join twice: ok, exitcode", pr.exitcode)
    p("pid after exit is set:", pr.pid is not None)
    pr = mp.Process(target=sleeps, args=(10,), daemon=True); pr.start()
    p("daemon:", pr.daemon)
    pr.kill(); pr.join(); p("daemon killed exitcode", pr.exitcode)

if __name__ == "__main__":
    main()
