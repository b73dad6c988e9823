"""asyncio: commit_async, Transaction.commit_async, wait_durable_async.

The event loop must never block on the engine: a lag probe (a task that
asks to wake every millisecond and records how late it woke) runs beside
the commits, and its worst lateness is the longest the loop was stalled.
Sync counts come from db.stats()["syncs"].
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from typing import Any, Coroutine, List, TypeVar

import pytest

import libcommit

from conftest import run_python

T = TypeVar("T")

TASKS = 1000
# What "a few milliseconds" means here. The longest pass measured is the
# one that starts all 1000 tasks: 3-4 ms on CPython 3.13, 5-6 ms on 3.9,
# CPython's own cost of starting that many tasks. The limit leaves room for
# a loaded 2-core machine (a GIL holder preempted is not subtracted) and is
# still far below what one blocking commit per task would cost.
STALL_LIMIT_SECONDS = 0.015


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _runqueue_wait_seconds() -> float:
    """How long this thread has waited for a CPU while runnable (Linux
    schedstat), or 0.0 where the kernel does not say."""
    try:
        with open("/proc/thread-self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class LagProbe:
    """Asks to wake every `interval` seconds and records how late it woke:
    `worst` bounds every stretch the loop spent not running callbacks
    (blocked in a call, waiting for the GIL, busy). Time the kernel kept
    the runnable thread off the CPU for other processes (the machine is
    shared) is not the loop's doing and is left out of `worst`; `worst_raw`
    keeps it."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.worst = 0.0
        self.worst_raw = 0.0
        self.wakeups = 0
        self._stop = False
        self._task: "asyncio.Task[None] | None" = None

    async def _run(self) -> None:
        while not self._stop:
            started = time.perf_counter()
            queued = _runqueue_wait_seconds()
            await asyncio.sleep(self.interval)
            late = time.perf_counter() - started - self.interval
            preempted = _runqueue_wait_seconds() - queued
            self.worst_raw = max(self.worst_raw, late)
            self.worst = max(self.worst, late - preempted)
            self.wakeups += 1

    async def __aenter__(self) -> "LagProbe":
        # A full collection of the test process's heap (pytest's included)
        # takes about 10 ms whenever it happens; start with it done so the
        # probe measures the loop, not the collector.
        gc.collect()
        self._task = asyncio.ensure_future(self._run())
        # Let it arm its first timer before the measured work starts.
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop = True
        assert self._task is not None
        await self._task


def test_probe_sees_a_blocked_loop() -> None:
    async def main() -> float:
        async with LagProbe() as probe:
            await asyncio.sleep(0.005)
            time.sleep(0.05)  # blocks the loop on purpose
            await asyncio.sleep(0.005)
        return probe.worst

    assert run(main()) >= 0.045


def test_commit_async_is_durable_and_visible(path: str) -> None:
    async def main() -> None:
        with libcommit.open(path) as db:
            assert db.sync == "full"
            seq = await db.commit_async({1: b"one", 2: b"two"})
            assert db.durable_seq() >= seq
            assert db.read(1) == b"one"
            seq2 = await db.commit_async([(1, None), (3, bytearray(b"three"))])
            assert seq2 == seq + 1
            assert db.read(1) is None and db.read(3) == b"three"

    run(main())
    with libcommit.open(path) as db:
        assert db.read(3) == b"three"


def test_transaction_commit_async(path: str) -> None:
    async def main() -> None:
        with libcommit.open(path) as db:
            await db.commit_async({1: b"a"})
            txn = db.begin()
            assert txn.sync == "full"
            txn.write(2, (txn.read(1) or b"") + b"b")
            seq = await txn.commit_async()
            assert db.durable_seq() >= seq and db.read(2) == b"ab"
            with pytest.raises(libcommit.ClosedError):
                txn.write(3, b"finished")

            loser = db.begin()
            loser.write(1, b"late")
            await db.commit_async({1: b"first"})
            with pytest.raises(libcommit.ConflictError) as info:
                await loser.commit_async()
            assert info.value.pages == [1]
            with pytest.raises(libcommit.ClosedError):
                await loser.commit_async()

            relaxed = db.begin()
            relaxed.set_sync("normal")
            assert relaxed.sync == "normal"
            relaxed.write(4, b"written")
            seq = await relaxed.commit_async()
            assert await db.wait_durable_async(seq)

            # A transaction that wrote nothing commits at its snapshot.
            empty = db.begin()
            snapshot = empty.snapshot
            assert await empty.commit_async() == snapshot

    run(main())


def test_modes_and_overrides(tmp_path: Any) -> None:
    async def main() -> None:
        with libcommit.open(str(tmp_path / "n.db"), sync="normal") as db:
            assert db.sync == "normal"
            seq = await db.commit_async({1: b"n"})
            assert db.read(1) == b"n"
            # sync="full" on one commit: it returns once durable.
            seq = await db.commit_async({2: b"f"}, sync="full")
            assert db.durable_seq() >= seq
        with libcommit.open(str(tmp_path / "o.db"), sync="off") as db:
            seq = await db.commit_async({1: b"o"})
            assert await db.wait_durable_async(seq, timeout=10)
            assert db.durable_seq() >= seq
        with libcommit.open(str(tmp_path / "f.db")) as db:
            seq = await db.commit_async({1: b"x"}, sync="normal")
            assert await db.wait_durable_async(seq)

    run(main())


def test_errors(path: str) -> None:
    async def main() -> None:
        db = libcommit.open(path)
        with pytest.raises(ValueError):
            await db.commit_async({0: b"page zero"})
        with pytest.raises(ValueError):
            await db.commit_async({1: b"x" * (db.page_size + 1)})
        with pytest.raises(TypeError):
            await db.commit_async(42)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            await db.commit_async({1: b"x"}, sync="sometimes")  # type: ignore[arg-type]
        with pytest.raises(libcommit.InvalidArgumentError):
            await db.wait_durable_async(10**6)
        with pytest.raises(TypeError):
            await db.wait_durable_async("1")  # type: ignore[arg-type]
        seq = await db.commit_async({1: b"ok"})
        # Refused waiters beside valid ones: each gets its own answer.
        results = await asyncio.gather(
            db.wait_durable_async(seq), db.wait_durable_async(seq + 10**6), return_exceptions=True
        )
        assert results[0] is True and isinstance(results[1], libcommit.InvalidArgumentError)
        assert await db.wait_durable_async(seq, timeout=0)
        db.close()
        with pytest.raises(libcommit.ClosedError):
            await db.commit_async({1: b"closed"})
        with pytest.raises(libcommit.ClosedError):
            await db.wait_durable_async(seq)

    run(main())


def test_thousand_tasks_share_syncs_without_stalling_the_loop(path: str) -> None:
    threads_before = threading.active_count()
    peak_threads = 0

    async def count_threads() -> None:
        nonlocal peak_threads
        while True:
            peak_threads = max(peak_threads, threading.active_count())
            await asyncio.sleep(0.002)

    async def main() -> None:
        with libcommit.open(path) as db:
            await db.commit_async({1: b"warm up"})
            syncs_before = db.stats()["syncs"]
            counter = asyncio.ensure_future(count_threads())
            started = time.perf_counter()
            async with LagProbe() as probe:
                seqs = await asyncio.gather(
                    *(db.commit_async({10 + i: b"task %d" % i}) for i in range(TASKS))
                )
            elapsed = time.perf_counter() - started
            counter.cancel()
            syncs = db.stats()["syncs"] - syncs_before
            assert sorted(seqs) == list(range(min(seqs), min(seqs) + TASKS))
            assert db.durable_seq() >= max(seqs)
            assert all(db.read(10 + i) == b"task %d" % i for i in range(TASKS))
            print(
                f"COUNTS asyncio: tasks={TASKS} syncs={syncs} seconds={elapsed:.3f} "
                f"max_loop_stall_ms={probe.worst * 1000:.2f} (raw {probe.worst_raw * 1000:.2f}) "
                f"probe_wakeups={probe.wakeups} "
                f"threads_added={peak_threads - threads_before}"
            )
            assert syncs <= TASKS // 10, f"{TASKS} commits took {syncs} syncs"
            assert probe.worst < STALL_LIMIT_SECONDS, f"loop stalled {probe.worst * 1000:.1f} ms"
            # A handful of worker threads, never one per waiting task.
            assert peak_threads - threads_before <= 6

    run(main())


def test_thousand_wait_durable_async_waiters_share_syncs(path: str) -> None:
    async def main() -> None:
        with libcommit.open(path, sync="normal") as db:
            seqs = [db.commit({i: b"n"}) for i in range(1, TASKS + 1)]
            syncs_before = db.stats()["syncs"]
            async with LagProbe() as probe:
                done = await asyncio.gather(*(db.wait_durable_async(s) for s in seqs))
            syncs = db.stats()["syncs"] - syncs_before
            assert all(done)
            print(
                f"COUNTS asyncio wait_durable: waiters={TASKS} syncs={syncs} "
                f"max_loop_stall_ms={probe.worst * 1000:.2f} (raw {probe.worst_raw * 1000:.2f})"
            )
            assert syncs <= 3
            assert probe.worst < STALL_LIMIT_SECONDS

    run(main())


def test_cancelling_never_uncommits(path: str) -> None:
    n = 200

    async def main() -> None:
        with libcommit.open(path) as db:
            tasks = [
                asyncio.ensure_future(db.commit_async({100 + i: b"kept %d" % i})) for i in range(n)
            ]
            txn = db.begin()
            txn.write(1, b"transaction")
            txn_task = asyncio.ensure_future(txn.commit_async())
            # One loop pass: every task has started, so its commit is queued.
            await asyncio.sleep(0)
            for t in tasks + [txn_task]:
                t.cancel()
            outcomes = await asyncio.gather(*tasks, txn_task, return_exceptions=True)
            cancelled = sum(isinstance(o, asyncio.CancelledError) for o in outcomes)
            with pytest.raises(libcommit.ClosedError):
                txn.write(2, b"finished")
            # Each cancelled commit still goes through. Writers run queued
            # commits in parallel, so no later commit marks when they are
            # done: wait (bounded) for the handle's commit count, then for
            # the last of them to be durable, hence visible. The commits are
            # seqs 1..=n+1 of a new database; last_commit_seq is the visible
            # tip, which may still be behind the commits already written.
            deadline = time.monotonic() + 30
            while db.stats()["commits"] < n + 1:
                assert time.monotonic() < deadline, db.stats()
                await asyncio.sleep(0.005)
            assert await db.wait_durable_async(n + 1, timeout=30)
            assert all(db.read(100 + i) == b"kept %d" % i for i in range(n))
            assert db.read(1) == b"transaction"
            assert db.stats()["commits"] == n + 1
            print(f"COUNTS asyncio cancel: tasks={n + 1} cancelled_while_waiting={cancelled}")

    async def waiters(off_path: str) -> None:
        # Under sync "off" nothing syncs until a waiter asks, and a result
        # reaches the loop one pass after the durability thread has it, so
        # both waiters are registered and unsettled when one is cancelled.
        with libcommit.open(off_path, sync="off") as db:
            seq = db.commit({5: b"unsynced"})
            doomed = asyncio.ensure_future(db.wait_durable_async(seq))
            kept = asyncio.ensure_future(db.wait_durable_async(seq))
            await asyncio.sleep(0)
            assert doomed.cancel()
            assert await kept
            with pytest.raises(asyncio.CancelledError):
                await doomed
            assert db.durable_seq() >= seq

    run(main())
    run(waiters(os.path.join(os.path.dirname(path), "off.db")))
    # Everything the cancelled tasks committed survives a reopen.
    with libcommit.open(path) as db:
        assert all(db.read(100 + i) == b"kept %d" % i for i in range(n))


def test_timeouts_and_many_loops(tmp_path: Any) -> None:
    """Loops in several threads share one database; wait_for around a
    commit cancels the wait only."""
    path = str(tmp_path / "loops.db")
    errors: List[BaseException] = []
    with libcommit.open(path) as db:

        async def one_loop(k: int) -> None:
            for i in range(50):
                await db.commit_async({1000 * (k + 1) + i: b"loop %d" % k})
            await asyncio.wait_for(db.commit_async({k + 1: b"in wait_for"}), timeout=30)

        def thread(k: int) -> None:
            try:
                run(one_loop(k))
            except BaseException as e:  # noqa: B036 - reported below
                errors.append(e)

        threads = [threading.Thread(target=thread, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert db.stats()["commits"] == 3 * 51
        assert all(db.read(k + 1) == b"in wait_for" for k in range(3))


def test_exit_with_commits_in_flight(path: str) -> None:
    """asyncio.run cancels the tasks still waiting when main returns, and the
    interpreter then exits: the queued commits still all land, and the
    process neither hangs nor crashes on the way out."""
    started = time.perf_counter()
    run_python(
        """
        import asyncio, sys, libcommit
        db = libcommit.open(sys.argv[1])
        async def main():
            for i in range(200):
                asyncio.ensure_future(db.commit_async({1 + i: b"in flight"}))
            await asyncio.sleep(0)  # every task has queued its commit
        asyncio.run(main())
        """,
        path,
    )
    elapsed = time.perf_counter() - started
    with libcommit.open(path) as db:
        assert all(db.read(1 + i) == b"in flight" for i in range(200))
        assert db.last_recovery.last_commit_seq == 200
    print(f"COUNTS asyncio exit: commits_in_flight=200 process_seconds={elapsed:.2f}")
