# The chapter's first example: ProcessPoolExecutor.map over a list of numbers.
import math
from concurrent.futures import ProcessPoolExecutor

PRIMES = [112272535095293, 112582705942171, 112272535095293, 115280095190773,
          115797848077099, 1099726899285419]

def is_prime(n):
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    for i in range(3, int(math.isqrt(n)) + 1, 2):
        if n % i == 0:
            return False
    return True

if __name__ == "__main__":
    with ProcessPoolExecutor() as ex:
        for n, p in zip(PRIMES, ex.map(is_prime, PRIMES)):
            print(f"{n} is prime: {p}")
