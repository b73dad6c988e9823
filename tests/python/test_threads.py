"""Threads share one Database: the GIL is released around engine calls, so
commits from many threads are made durable together (group commit)."""

from __future__ import annotations

import threading

import pytest

import libcommit
from conftest import page

THREADS = 8


def run_threads(target, count=THREADS):
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def body(index: int) -> None:
        try:
            start.wait()
            target(index)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors


def test_group_commit_from_threads(db):
    per_thread = 60
    seqs: list[list[int]] = [[] for _ in range(THREADS)]

    def commit_pages(index: int) -> None:
        for k in range(per_thread):
            pgno = index * per_thread + k + 1
            seqs[index].append(db.commit({pgno: page(pgno)}))

    run_threads(commit_pages)
    total = THREADS * per_thread
    every = sorted(s for thread_seqs in seqs for s in thread_seqs)
    assert every == list(range(1, total + 1))
    for thread_seqs in seqs:
        assert thread_seqs == sorted(thread_seqs)
    stats = db.stats()
    assert stats["commits"] == total
    assert stats["durable_commit_seq"] == total
    # Each sync covers every commit that got in before it.
    assert stats["syncs"] < stats["commits"] * 3 // 4, stats
    for pgno in range(1, total + 1):
        assert db.read(pgno) == page(pgno)


def test_transactions_from_threads_lose_no_update(db):
    """Read-modify-write of one counter page; conflicts retry."""
    increments = 25
    db.commit({1: (0).to_bytes(8, "little")})
    retries = [0] * THREADS

    def increment(index: int) -> None:
        done = 0
        while done < increments:
            try:
                with db.begin() as txn:
                    value = int.from_bytes(txn.read(1), "little")
                    txn.write(1, (value + 1).to_bytes(8, "little"))
                done += 1
            except libcommit.ConflictError as e:
                assert e.pages == [1]
                retries[index] += 1

    run_threads(increment)
    assert int.from_bytes(db.read(1), "little") == THREADS * increments
    assert db.stats()["conflicts"] == sum(retries)


def test_readers_see_whole_commits(db):
    """Every commit writes the same counter into pages 1..4; readers check
    they never see a mix."""
    db.commit({p: (0).to_bytes(8, "little") for p in range(1, 5)})
    stop = threading.Event()

    def work(index: int) -> None:
        if index == 0:
            for n in range(1, 101):
                db.commit({p: n.to_bytes(8, "little") for p in range(1, 5)})
            stop.set()
            return
        while not stop.is_set():
            with db.begin() as txn:
                values = {txn.read(p) for p in range(1, 5)}
                assert len(values) == 1, values

    run_threads(work, count=4)


def test_one_transaction_shared_by_threads(db):
    """Not a recommended pattern, but it must not crash or corrupt."""
    txn = db.begin()

    def write(index: int) -> None:
        for k in range(50):
            txn.write(index * 100 + k + 1, page(index))
            txn.read(index * 100 + 1)

    run_threads(write, count=4)
    txn.commit()
    for index in range(4):
        assert db.read(index * 100 + 50) == page(index)


def test_close_while_threads_commit(path):
    db = libcommit.open(path)
    acked: list[tuple[int, int]] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        if index == 0:
            while db.stats()["commits"] < 50:
                pass
            db.close()
            return
        for k in range(10_000):
            pgno = index * 100_000 + k + 1
            try:
                seq = db.commit({pgno: page(pgno)})
            except libcommit.ClosedError:
                return
            with lock:
                acked.append((seq, pgno))

    run_threads(work, count=4)
    assert db.closed
    with libcommit.open(path) as db:
        for _, pgno in acked:
            assert db.read(pgno) == page(pgno)


@pytest.mark.parametrize("mode", ["wal", "native"])
def test_threads_with_modes(path, mode):
    with libcommit.open(path, mode=mode) as db:

        def commit_pages(index: int) -> None:
            for k in range(20):
                pgno = index * 20 + k + 1
                db.commit({pgno: page(pgno)})

        run_threads(commit_pages)
        assert db.stats()["last_commit_seq"] == THREADS * 20
    with libcommit.open(path, mode=mode) as db:
        for pgno in range(1, THREADS * 20 + 1):
            assert db.read(pgno) == page(pgno)
