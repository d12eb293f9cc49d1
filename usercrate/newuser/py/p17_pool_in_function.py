# A function that builds its own pool, called twice.
from concurrent.futures import ProcessPoolExecutor

def cube(x):
    return x ** 3

def total_cubes(n):
    with ProcessPoolExecutor(max_workers=2) as ex:
        return sum(ex.map(cube, range(n)))

if __name__ == "__main__":
    print(total_cubes(10))
    print(total_cubes(100))
