# Python twin of the join/terminate-from-another-thread corner (python-mapping, p.join row).
import multiprocessing as mp, threading, time

def forever():
    while True:
        time.sleep(1)

if __name__ == "__main__":
    p = mp.Process(target=forever); p.start()
    threading.Timer(0.1, p.terminate).start()   # a watchdog thread terminates ...
    t = time.time(); p.join()                   # ... while this thread waits in join
    print("watchdog: exitcode", p.exitcode, "after %.2f s" % (time.time() - t))
    q = mp.Process(target=time.sleep, args=(0.2,)); q.start()
    ts = [threading.Thread(target=q.join) for _ in range(2)]  # two joiners
    [x.start() for x in ts]; [x.join() for x in ts]
    print("two joiners: exitcode", q.exitcode)
