# Writes a deterministic text file of N lines for p19_wordcount (default 200,000 lines).
import random, sys
random.seed(36)
words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
         "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon"]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
with open(sys.argv[1], "w") as f:
    for i in range(n):
        k = random.randint(1, 12)
        f.write(" ".join(random.choice(words[: 1 + (i % 20)]) for _ in range(k)) + "\n")
