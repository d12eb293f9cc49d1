"""Differential pair with pipe_eof_diff.rs: a child that ends (or fails) before it touches
its pipe end; the parent closed its copy and waits in recv()."""
import multiprocessing as mp
import time

def p(*a):
    print(*a, flush=True)

def never_attaches(conn):
    raise ValueError("failed before using the pipe")

def attaches_then_fails(conn):
    conn.send(1)
    raise ValueError("failed after one message")

def main():
    mp.set_start_method("spawn")
    for name, body in [("fails before attach", never_attaches), ("fails after one send", attaches_then_fails)]:
        a, b = mp.Pipe()
        c = mp.Process(target=body, args=(b,))
        c.start()
        b.close()
        t = time.monotonic()
        got = []
        while True:
            if not a.poll(3):
                p(name, ": no EOF within 3 s, received", got)
                break
            try:
                got.append(a.recv())
            except EOFError:
                p(name, ": EOFError after", got, "within 3 s:", time.monotonic() - t < 3)
                break
        c.join()

if __name__ == "__main__":
    main()
