"""libcommit quickstart: commit pages, read them in a transaction, handle a
conflict, share the database between threads, and recover after a crash.
The README's Python examples are the [readme:...] regions of this file.

Run with the package installed (`make py-demo`):

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

    # [readme:open]
    db = libcommit.open(path)  # created if missing; sync="full", mode="wal" by default
    print(db.page_size, db.sync, db.last_recovery.commits_recovered)
    # [readme:end]

    # [readme:commit]
    seq = db.commit({1: b"hello", 2: b"world"})  # atomic; durable when it returns
    with db.begin() as txn:  # commits on normal exit, aborts on an exception
        txn.write(3, (txn.read(1) or b"") + b", " + (txn.read(2) or b"") + b"!")
        txn.delete(2)
    # [readme:end]
    print(f"batch committed as commit_seq {seq}")

    # [readme:read]
    assert db.read(3) == b"hello, world!"
    assert db.read(2) is None  # deleted (or never written)
    reader = db.begin()  # a snapshot: later commits stay invisible to it
    db.commit({3: b"changed"})
    assert reader.read(3) == b"hello, world!" and db.read(3) == b"changed"
    reader.abort()
    # [readme:end]

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

    # [readme:errors]
    loser = db.begin()
    loser.write(1, b"too late")
    db.commit({1: b"first"})  # another writer commits page 1 first
    try:
        loser.commit()
    except libcommit.ConflictError as e:  # first committer wins; nothing was written
        print(f"conflict on pages {e.pages} with commit {e.commit_seq}; retry")
    except libcommit.Error as e:  # every engine error; e.status is the C lc_status
        print(f"{type(e).__name__} ({libcommit.Status(e.status).name}): {e}")
    # [readme:end]

    report = db.checkpoint()
    print(f"checkpoint: {report.pages_written} pages, up to commit {report.checkpoint_seq}")
    db.commit({4: b"after the checkpoint"})
    db.close()

    # [readme:recover]
    # Opening replays the write-ahead log: every acknowledged commit is back.
    with libcommit.open(path) as db:
        print(f"replayed {db.last_recovery.commits_recovered} commits; page 4 = {db.read(4)!r}")
    # Offline, on a closed database; skip_corrupt keeps the durable prefix
    # of a damaged log instead of raising CorruptError.
    recovered = libcommit.recover(path, skip_corrupt=True)
    print(f"recover: up to commit {recovered.last_commit_seq}, set aside {recovered.partial_segments}")
    # [readme:end]


if __name__ == "__main__":
    main()
