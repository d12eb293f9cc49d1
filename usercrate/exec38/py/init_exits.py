# Python twin of init_exits_with_codes / init_exits_on_respawn: an initializer that exits.
import concurrent.futures as cf, os, sys

def init_exit():
    os._exit(93)

def init_exit_on_respawn(marker):
    if os.path.exists(marker):
        os._exit(5)

def inc(x):
    return x + 1

if __name__ == "__main__":
    with cf.ProcessPoolExecutor(1, initializer=init_exit) as ex:
        try:
            ex.submit(inc, 1).result(timeout=10)
        except Exception as e:
            print("init exit(93):", type(e).__name__, e)
    marker = "/tmp/exec38-py-marker"
    if os.path.exists(marker):
        os.remove(marker)
    ex = cf.ProcessPoolExecutor(1, initializer=init_exit_on_respawn, initargs=(marker,), max_tasks_per_child=1)
    print("first:", ex.submit(inc, 1).result(timeout=10))
    open(marker, "w").close()
    try:
        print("second:", ex.submit(inc, 1).result(timeout=10))
    except Exception as e:
        print("respawn init exit(5):", type(e).__name__, e)
    os.remove(marker)
    ex.shutdown(wait=False)
