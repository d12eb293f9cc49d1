# Count words of a large file in parallel: chunks of lines to workers, Counters merged.
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

def count(lines):
    c = Counter()
    for line in lines:
        c.update(line.split())
    return c

def chunks(path, n):
    with open(path) as f:
        buf = []
        for line in f:
            buf.append(line)
            if len(buf) == n:
                yield buf
                buf = []
        if buf:
            yield buf

if __name__ == "__main__":
    path = sys.argv[1]
    total = Counter()
    with ProcessPoolExecutor() as ex:
        for c in ex.map(count, chunks(path, 5000)):
            total.update(c)
    for w, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))[:5]:
        print(w, n)
    print("distinct", len(total), "total", sum(total.values()))
