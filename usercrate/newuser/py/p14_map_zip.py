# executor.map with several iterables (zipped, shortest wins).
from concurrent.futures import ProcessPoolExecutor

def power(base, exp):
    return base ** exp

if __name__ == "__main__":
    with ProcessPoolExecutor(max_workers=2) as ex:
        print(list(ex.map(power, [2, 3, 4, 5], [10, 3, 2])))
        print(list(ex.map(pow, [2, 3], [5, 2], [7, 7])))
