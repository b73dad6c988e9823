"""Commits/s from Python threads: 1-page 4 KiB commits, sync="full".

Not a test (timings do not belong in pass/fail tests); run by hand:

    build/venv/bin/python tests/python/bench_commits.py [--seconds 5] [--threads 1,8]

Each thread commits its own pages through one shared Database, for a fixed
time, into a fresh database in a temporary directory
(the system temporary directory unless --dir says otherwise).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time

import libcommit


def run(directory: str, threads: int, seconds: float, mode: str, sync: str) -> dict[str, float]:
    path = os.path.join(directory, f"bench-{threads}-{mode}-{sync}.db")
    image = os.urandom(4096)
    counts = [0] * threads
    deadline = 0.0
    start = threading.Barrier(threads + 1)

    with libcommit.open(path, mode=mode, sync=sync) as db:

        def worker(index: int) -> None:
            pgno = index * 1_000_000 + 1
            start.wait()
            n = 0
            while time.perf_counter() < deadline:
                db.commit({pgno + n % 1000: image})
                n += 1
            counts[index] = n

        pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        began = time.perf_counter()
        deadline = began + seconds
        start.wait()
        for t in pool:
            t.join()
        elapsed = time.perf_counter() - began
        stats = db.stats()
    total = sum(counts)
    return {
        "threads": threads,
        "commits": total,
        "commits_per_s": total / elapsed,
        "syncs": stats["syncs"],
        "commits_per_sync": total / max(stats["syncs"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", default="1,8")
    parser.add_argument("--mode", default="wal", choices=["wal", "native"])
    parser.add_argument("--sync", default="full", choices=["full", "normal", "off"])
    parser.add_argument("--dir", default=None, help="where to put the database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="libcommit-bench-", dir=args.dir) as d:
        print(f"libcommit {libcommit.__version__}, mode={args.mode}, sync={args.sync}, 4 KiB 1-page commits, {d}")
        for threads in (int(t) for t in args.threads.split(",")):
            r = run(d, threads, args.seconds, args.mode, args.sync)
            print(
                f"threads={r['threads']:>3}  commits/s={r['commits_per_s']:>9.0f}  "
                f"commits={r['commits']:>7}  syncs={r['syncs']:>7}  commits/sync={r['commits_per_sync']:.1f}"
            )


if __name__ == "__main__":
    main()
