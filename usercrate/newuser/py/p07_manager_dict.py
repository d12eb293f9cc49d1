# Manager().dict() filled by several processes.
from multiprocessing import Manager, Process

def fill(d, k):
    d[f"key{k}"] = k * 10

if __name__ == "__main__":
    with Manager() as m:
        d = m.dict()
        ps = [Process(target=fill, args=(d, k)) for k in range(5)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        for k in sorted(d.keys()):
            print(k, d[k])
        print("len", len(d))
