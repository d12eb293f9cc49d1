# Pipe: the child sends records, then closes; the parent reads until EOF.
from multiprocessing import Process, Pipe

def child(conn):
    for i in range(5):
        conn.send({"id": i, "square": i * i})
    conn.close()

if __name__ == "__main__":
    parent, child_end = Pipe()
    p = Process(target=child, args=(child_end,))
    p.start()
    child_end.close()
    got = []
    while True:
        try:
            got.append(parent.recv())
        except EOFError:
            break
    p.join()
    for r in got:
        print(r["id"], r["square"])
    print("EOF after", len(got), "messages")
