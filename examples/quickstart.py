"""libcommit quickstart: commit pages, read them in a transaction, handle a
conflict, share the database between threads, and recover after a crash.

Run with the package installed (`make py-demo`, or `pip install .` first):

    python examples/quickstart.py
"""

from __future__ import annotations

import os
import tempfile
import threading

import libcommit


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="libcommit-quickstart-") as directory:
        demo(os.path.join(directory, "quickstart.db"))


def demo(path: str) -> None:
    print(f"libcommit {libcommit.__version__}, database {path}")

    with libcommit.open(path) as db:
        # A batch: atomic, durable when commit() returns (sync="full").
        seq = db.commit({1: b"hello", 2: b"world"})
        print(f"batch committed as commit_seq {seq}")

        # A transaction: reads see its snapshot plus its own writes; the
        # with-block commits on normal exit and aborts on an exception.
        with db.begin() as txn:
            greeting = txn.read(1) or b""
            txn.write(3, greeting + b", " + (txn.read(2) or b"") + b"!")
        print(f"page 3 = {db.read(3)!r}")

        # First committer wins: the loser gets ConflictError and writes nothing.
        loser = db.begin()
        loser.write(1, b"too late")
        db.commit({1: b"first"})
        try:
            loser.commit()
        except libcommit.ConflictError as e:
            print(f"conflict on pages {e.pages} with commit {e.commit_seq}")

        # Threads share one Database; their commits share syncs.
        def worker(index: int) -> None:
            for k in range(25):
                pgno = 100 + index * 25 + k
                db.commit({pgno: f"thread {index} page {pgno}".encode()})

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = db.stats()
        print(f"{stats['commits']} commits with {stats['syncs']} syncs")

        report = db.checkpoint()
        print(f"checkpoint: {report.pages_written} pages, up to commit {report.checkpoint_seq}")

    # Reopening replays the write-ahead log; offline recovery does the same.
    with libcommit.open(path) as db:
        print(f"reopened at commit {db.stats()['last_commit_seq']}, page 3 = {db.read(3)!r}")
    recovered = libcommit.recover(path)
    print(f"recover: last_commit_seq {recovered.last_commit_seq}")


if __name__ == "__main__":
    main()
