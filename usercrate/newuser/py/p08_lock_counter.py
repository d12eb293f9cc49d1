# A Lock-protected counter in a Value, incremented by 4 processes.
from multiprocessing import Process, Value, Lock

def bump(counter, lock, n):
    for _ in range(n):
        with lock:
            counter.value += 1

if __name__ == "__main__":
    counter, lock = Value("i", 0, lock=False), Lock()
    ps = [Process(target=bump, args=(counter, lock, 2500)) for _ in range(4)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    print("counter =", counter.value)
