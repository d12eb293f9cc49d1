# A Manager().list() appended by Pool jobs, results taken with imap_unordered.
from multiprocessing import Manager, Pool

def work(args):
    lst, i = args
    lst.append(i * i)
    return i

if __name__ == "__main__":
    with Manager() as m, Pool(2) as pool:
        lst = m.list()
        done = 0
        for _ in pool.imap_unordered(work, [(lst, i) for i in range(10)]):
            done += 1
        print("done", done)
        print(sorted(lst))
