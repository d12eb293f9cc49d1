# A scraper-shaped pipeline: fetch pages (sleep instead of network) with a per-page
# time-out at result(); parse the pages that arrived.
import time
from concurrent.futures import ProcessPoolExecutor, TimeoutError

URLS = {"a.example": 50, "b.example": 2000, "c.example": 100, "d.example": 80}

def fetch(url):
    time.sleep(URLS[url] / 1000)
    return f"<html>{url}</html>"

def parse(page):
    return len(page)

if __name__ == "__main__":
    with ProcessPoolExecutor(max_workers=4) as ex:
        futs = [(u, ex.submit(fetch, u)) for u in URLS]
        pages = []
        for u, f in futs:
            try:
                pages.append(f.result(timeout=0.5))
                print(f"{u}: ok")
            except TimeoutError:
                print(f"{u}: timed out")
                f.cancel()
        print("sizes:", list(ex.map(parse, pages)))
