"""libcommit from asyncio: many tasks commit at once without blocking the
event loop, and their commits share syncs.

Run with the package installed (`make py-demo`):

    python examples/quickstart_async.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile

import libcommit


async def demo(path: str) -> None:
    # [readme:async]
    with libcommit.open(path) as db:

        async def task(i: int) -> int:
            return await db.commit_async({100 + i: b"from task %d" % i})

        before = db.stats()["syncs"]
        seqs = await asyncio.gather(*(task(i) for i in range(1000)))
        print(f"{len(seqs)} durable commits, {db.stats()['syncs'] - before} syncs")

        with db.begin() as txn:  # exits without committing again: commit_async finished it
            txn.write(1, (txn.read(100) or b"") + b"!")
            seq = await txn.commit_async()

        relaxed = db.commit({2: b"ticket"}, sync="normal")  # written, not yet synced
        assert await db.wait_durable_async(relaxed, timeout=5.0)
    # [readme:end]
    print(f"transaction committed as {seq}; commit {relaxed} is durable")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="libcommit-async-") as directory:
        asyncio.run(demo(os.path.join(directory, "async.db")))


if __name__ == "__main__":
    main()
