# A class with state shipped to workers (a bound method is pickled with its instance).
from concurrent.futures import ProcessPoolExecutor

class Scorer:
    def __init__(self, weights, bias):
        self.weights, self.bias = weights, bias
    def score(self, features):
        return round(sum(w * f for w, f in zip(self.weights, features)) + self.bias, 3)

if __name__ == "__main__":
    s = Scorer([0.5, -1.0, 2.0], 0.25)
    rows = [[1, 2, 3], [0, 0, 0], [4, 1, 0.5]]
    with ProcessPoolExecutor(max_workers=2) as ex:
        print(list(ex.map(s.score, rows)))
