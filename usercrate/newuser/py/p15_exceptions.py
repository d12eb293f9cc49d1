# Exceptions raised in jobs, caught at result().
from concurrent.futures import ProcessPoolExecutor

def parse_age(s):
    age = int(s)
    if age < 0:
        raise ValueError(f"negative age {age}")
    return age

if __name__ == "__main__":
    with ProcessPoolExecutor(max_workers=2) as ex:
        futs = [(s, ex.submit(parse_age, s)) for s in ["42", "-3", "7"]]
        for s, f in futs:
            try:
                print(s, "->", f.result())
            except ValueError as e:
                print(s, "-> error:", e)
        print("exception():", repr(futs[1][1].exception()))
