"""W5 of the libcommit bench: 1-page commits from Python threads.

Usage: w5_python.py DB_PATH THREADS SECONDS

Opens a fresh database (defaults: sync FULL, WAL mode), writes the same
8192 pages the C harness starts from, then THREADS threads commit one
random 4 KiB page each (``Database.commit``, which releases the GIL while
it waits for the group commit) for SECONDS. Each thread owns the pages
``1 + tid + THREADS * j`` and remembers what it last wrote to each; after
the window a sample is read back and compared byte for byte. Prints one
line for benches/bench/w5.c to parse:

    W5 ops=N rate=R p50_us=A p99_us=B verified=V bad=F
"""

from __future__ import annotations

import random
import sys
import threading
import time

import libcommit

PAGE = 4096
RANGE = 8192
VERIFY_PER_THREAD = 32


def image(pgno: int, tag: int, body: bytes) -> bytes:
    return pgno.to_bytes(8, "little") + tag.to_bytes(8, "little") + body


def main() -> int:
    path, threads, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    body = bytes(random.Random(7).getrandbits(8) for _ in range(PAGE - 16))
    db = libcommit.open(path)
    for base in range(1, RANGE + 1, 256):
        db.commit({p: image(p, 0, body) for p in range(base, base + 256)})

    stop = threading.Event()
    start = threading.Barrier(threads + 1)
    lat: list[list[int]] = [[] for _ in range(threads)]
    last: list[dict[int, int]] = [{} for _ in range(threads)]
    done = [0] * threads

    def worker(tid: int) -> None:
        rng = random.Random(tid)
        local = RANGE // threads
        mine_lat, mine_last = lat[tid], last[tid]
        seq = 0
        start.wait()
        while not stop.is_set():
            pgno = 1 + tid + threads * rng.randrange(local)
            seq += 1
            tag = (tid << 32) | seq
            data = image(pgno, tag, body)
            t0 = time.perf_counter_ns()
            db.commit({pgno: data})
            t1 = time.perf_counter_ns()
            mine_lat.append(t1 - t0)
            mine_last[pgno] = tag
            done[tid] = t1

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    start.wait()
    t_start = time.perf_counter_ns()
    time.sleep(secs)
    stop.set()
    for t in ts:
        t.join()
    window = (max(done) - t_start) / 1e9

    verified = bad = 0
    for tid in range(threads):
        for pgno, tag in list(last[tid].items())[-VERIFY_PER_THREAD:]:
            verified += 1
            if db.read(pgno) != image(pgno, tag, body):
                bad += 1
    db.close()

    all_lat = sorted(x for per in lat for x in per)
    n = len(all_lat)

    def pct(p: float) -> float:
        return all_lat[min(n - 1, int(n * p))] / 1e3 if n else 0.0

    print(
        f"W5 ops={n} rate={n / window:.1f} p50_us={pct(0.5):.1f} "
        f"p99_us={pct(0.99):.1f} verified={verified} bad={bad}"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
