"""CPython's concurrent.futures.wait in its corners (docs/python-mapping.md, `wait` row):
empty list, duplicates, done futures, a zero time-out, cancelled futures, a shut-down executor.
Run: python3 bench/python/wait_corners.py"""
import concurrent.futures as cf, time
from concurrent.futures import wait, FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED
def nap(s): time.sleep(s); return s
def boom(_): raise ValueError("x")
with cf.ThreadPoolExecutor(2) as ex:
    print("empty", [tuple(map(len, wait([], timeout=0, return_when=w))) for w in (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED)])
    f = ex.submit(nap, 0.5)
    d, nd = wait([f, f, f], timeout=0)
    print("dups not done timeout0", len(d), len(nd))
    f.result(); d, nd = wait([f, f], timeout=0)
    print("dups done", len(d), len(nd))
    a = ex.submit(nap, 0.3); b = ex.submit(nap, 0.3); c = ex.submit(nap, 0.01)
    print("cancel queued c:", c.cancel())
    t = time.time(); d, nd = wait([a, b, c], return_when=FIRST_COMPLETED); print("FIRST_COMPLETED with cancelled:", len(d), len(nd), round(time.time()-t,2))
    t = time.time(); d, nd = wait([a, b, c], return_when=FIRST_EXCEPTION); print("FIRST_EXCEPTION with cancelled:", len(d), len(nd), round(time.time()-t,2))
    e = ex.submit(boom, 1); e.exception()
    d, nd = wait([e], timeout=0, return_when=FIRST_EXCEPTION); print("already failed FE timeout0", len(d), len(nd))
    g = ex.submit(nap, 0.3)
    d, nd = wait([g, e], timeout=0, return_when=ALL_COMPLETED); print("ALL timeout0 mixed", len(d), len(nd))
    g.result()
ex2 = cf.ThreadPoolExecutor(1)
h = ex2.submit(nap, 0.2); q = ex2.submit(nap, 0.2)
ex2.shutdown(wait=False, cancel_futures=True)
d, nd = wait([h, q], return_when=ALL_COMPLETED, timeout=5); print("shutdown cancel_futures:", len(d), len(nd), q.cancelled(), h.result())
try:
    d, nd = wait([cf.Future()], timeout=0); print("fresh Future timeout0", len(d), len(nd))
except Exception as ex: print("err", ex)
