# A parameter sweep with a progress line per completion.
from concurrent.futures import ProcessPoolExecutor, as_completed

def simulate(params):
    a, b = params
    x = 0.0
    for i in range(20000):
        x = (x * a + b) % 1.0
    return (a, b, round(x, 6))

if __name__ == "__main__":
    grid = [(a / 10, b / 10) for a in range(1, 5) for b in range(1, 5)]
    results = []
    with ProcessPoolExecutor() as ex:
        futs = [ex.submit(simulate, p) for p in grid]
        for k, f in enumerate(as_completed(futs), 1):
            results.append(f.result())
            print(f"\rprogress {k}/{len(grid)}", end="")
    print()
    best = max(results, key=lambda r: r[2])
    print("best:", best)
