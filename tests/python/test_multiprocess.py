"""Several processes (multiprocessing, spawn) on one database.

Each child opens the database itself, as separate programs would; the
parent only creates some of the databases and checks the result afterwards.
The children synchronise through Barriers and Pipes, never through sleeps,
so every ordering a test relies on is one it forced.

What must hold across processes (API.md): one writer at a time,
others wait up to busy_timeout_ms instead of failing; commit_seq is dense
and strictly increasing over all processes; a process catches up on the
commits of the others, both to write (its next commit_seq follows theirs)
and to read (a transaction begun after another process's commit sees it);
first-committer-wins holds between transactions of different processes.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
import time
import traceback
import zlib
from multiprocessing.connection import Connection
from typing import Any, Callable

import pytest

import libcommit

CTX = multiprocessing.get_context("spawn")

# Long enough that a writer waiting for the lease never gives up in a
# healthy engine: a BusyError here is a failure, not noise.
BUSY_TIMEOUT_MS = 10_000
# How long the parent waits for all children of one test.
CHILD_TIMEOUT_S = 120.0
# How long a child waits for a peer's message.
PEER_TIMEOUT_S = 60.0

PROCESSES = 4
THREADS = 2
COMMITS_PER_THREAD = 24
PAGES_PER_WRITER = 4
# Blind batches of every writer also write this page; the final image must
# be the one of the acknowledged commit with the highest commit_seq.
SHARED_PGNO = 100_000
IMAGE_BODY = 500


# --- payloads ------------------------------------------------------------------


def image(proc: int, thread: int, counter: int, pgno: int) -> bytes:
    """A page image naming its writer, commit counter and page, with a CRC32
    of the body in front, so a torn, stale or misplaced image cannot pass."""
    unit = b"w%d.%d n%d p%d " % (proc, thread, counter, pgno)
    body = (unit * (IMAGE_BODY // len(unit) + 1))[:IMAGE_BODY]
    return zlib.crc32(body).to_bytes(4, "little") + body


def decode(data: bytes) -> tuple[int, int, int, int]:
    """(proc, thread, counter, pgno) of an image(); AssertionError if its
    checksum or its repetition does not hold."""
    crc, body = int.from_bytes(data[:4], "little"), data[4:]
    assert zlib.crc32(body) == crc, f"bad checksum: {data[:40]!r}"
    writer, counter, pgno = body.split(b" ", 3)[:3]
    proc, thread = writer[1:].split(b".")
    fields = (int(proc), int(thread), int(counter[1:]), int(pgno[1:]))
    assert data == image(*fields), f"not a well-formed image: {data[:40]!r}"
    return fields


def own_pages(proc: int, thread: int) -> list[int]:
    """The pages only writer (proc, thread) writes."""
    first = 1 + (proc * THREADS + thread) * PAGES_PER_WRITER
    return list(range(first, first + PAGES_PER_WRITER))


# --- running children ----------------------------------------------------------


def _child(name: str, fn: Callable[..., Any], args: tuple[Any, ...], results: Any) -> None:
    """Child entry point: reports fn's return value or its traceback."""
    try:
        results.put((name, True, fn(*args)))
    except BaseException:  # noqa: BLE001 - reported to the parent
        results.put((name, False, traceback.format_exc()))


def run_children(specs: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]]) -> dict[str, Any]:
    """Runs fn(*args) for each name in its own spawned process and returns
    {name: result}; fails with every child's traceback if any child raised,
    died or did not finish within CHILD_TIMEOUT_S. Once one child has
    failed the others get a few seconds to report, then are killed: they
    are likely waiting for a peer that will never answer."""
    results = CTX.Queue()
    procs = {
        name: CTX.Process(target=_child, args=(name, fn, args, results), name=name)
        for name, (fn, args) in specs.items()
    }
    for p in procs.values():
        p.start()
    got: dict[str, tuple[bool, Any]] = {}
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    exited_at: dict[str, float] = {}
    try:
        while len(got) < len(procs):
            try:
                name, ok, value = results.get(timeout=0.5)
            except queue.Empty:
                pass
            else:
                got[name] = (ok, value)
                if not ok:
                    deadline = min(deadline, time.monotonic() + 5.0)
                continue
            now = time.monotonic()
            for name, p in procs.items():
                # A child's result reaches the queue before it exits; one
                # that exited a while ago without one died (e.g. a crash).
                if name not in got and p.exitcode is not None:
                    if now - exited_at.setdefault(name, now) > 2.0:
                        got[name] = (False, f"exited with code {p.exitcode} and no result")
            if now > deadline:
                for name in procs:
                    got.setdefault(name, (False, "no result in time (killed)"))
    finally:
        for p in procs.values():
            p.join(timeout=max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join()
    failures = {n: v for n, (ok, v) in got.items() if not ok}
    assert not failures, "\n".join(f"--- {n}:\n{v}" for n, v in sorted(failures.items()))
    return {n: v for n, (_, v) in got.items()}


def expect(conn: Connection, tag: str) -> Any:
    """Receives the next message from a peer, which must be (tag, value)."""
    assert conn.poll(PEER_TIMEOUT_S), f"no {tag!r} from the peer within {PEER_TIMEOUT_S} s"
    got_tag, value = conn.recv()
    assert got_tag == tag, (got_tag, tag)
    return value


# --- many writers ----------------------------------------------------------------

# (commit_seq, counter, {pgno: image}) of one acknowledged commit.
Acked = tuple[int, int, dict[int, bytes]]


def writer_process(path: str, mode: str, proc: int, start: Any, end: Any) -> dict[str, Any]:
    """THREADS threads of one process commit COMMITS_PER_THREAD commits each.

    Even counters are blind batches writing two own pages and SHARED_PGNO;
    odd counters are transactions that first check their snapshot holds
    this writer's previous images of the pages they rewrite, then write
    two own pages. Only this writer touches its own pages, so a conflict or
    a stale read is an engine error. Returns every acknowledged commit, the
    handle's stats, and what a transaction begun after all processes have
    finished (end barrier) sees. On any error both barriers are broken, so
    the other processes fail at once instead of waiting for this one."""
    try:
        with libcommit.open(path, mode=mode, busy_timeout_ms=BUSY_TIMEOUT_MS) as db:
            acked = commit_from_threads(db, proc, start)
            stats = db.stats()
            # Every process has finished committing once this returns.
            end.wait(timeout=CHILD_TIMEOUT_S)
            with db.begin() as txn:
                snapshot_after = txn.snapshot
                shared_after = txn.read(SHARED_PGNO)
            return {
                "acked": acked,
                "stats": stats,
                "snapshot_after": snapshot_after,
                "last_commit_seq_after": db.stats()["last_commit_seq"],
                "shared_after": shared_after,
            }
    except BaseException:
        start.abort()
        end.abort()
        raise


def commit_from_threads(db: libcommit.Database, proc: int, start: Any) -> dict[int, list[Acked]]:
    """The commits of writer_process; returns {thread: acknowledged commits}."""
    acked: dict[int, list[Acked]] = {t: [] for t in range(THREADS)}
    errors: list[str] = []

    def work(thread: int) -> None:
        pages = own_pages(proc, thread)
        last: dict[int, bytes] = {}
        try:
            start.wait(timeout=PEER_TIMEOUT_S)
            for counter in range(1, COMMITS_PER_THREAD + 1):
                chosen = [pages[counter % len(pages)], pages[(counter + 1) % len(pages)]]
                writes = {p: image(proc, thread, counter, p) for p in chosen}
                if counter % 2 == 0:
                    writes[SHARED_PGNO] = image(proc, thread, counter, SHARED_PGNO)
                    seq = db.commit(writes)
                else:
                    with db.begin() as txn:
                        for p in chosen:
                            assert txn.read(p) == last.get(p), (proc, thread, counter, p)
                        for p, data in writes.items():
                            txn.write(p, data)
                        seq = txn.commit()
                last.update(writes)
                acked[thread].append((seq, counter, writes))
        except BaseException:  # noqa: BLE001 - reported below
            errors.append(f"thread {thread}:\n{traceback.format_exc()}")
            start.abort()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, "\n".join(errors)
    return acked


def describe(data: bytes | None) -> object:
    """decode(data) for an assertion message, or why it cannot be decoded."""
    if data is None:
        return None
    try:
        return decode(data)
    except AssertionError as e:
        return f"undecodable ({e})"


@pytest.mark.parametrize("mode", ["wal", "native"])
def test_processes_and_threads_commit_dense_and_durable(path: str, mode: str) -> None:
    # Every process opens the (not yet existing) database at once, and none
    # commits before all have it open.
    start = CTX.Barrier(PROCESSES * THREADS)
    end = CTX.Barrier(PROCESSES)
    results = run_children(
        {f"writer-{p}": (writer_process, (path, mode, p, start, end)) for p in range(PROCESSES)}
    )

    history: list[tuple[int, int, int, int, dict[int, bytes]]] = []
    for p in range(PROCESSES):
        r = results[f"writer-{p}"]
        for t, commits in r["acked"].items():
            assert len(commits) == COMMITS_PER_THREAD, (p, t)
            seqs = [seq for seq, _, _ in commits]
            assert seqs == sorted(set(seqs)), f"writer {p}.{t}: seqs not increasing {seqs}"
            history.extend((seq, p, t, counter, writes) for seq, counter, writes in commits)
        assert r["stats"]["commits"] == THREADS * COMMITS_PER_THREAD, r["stats"]
        assert r["stats"]["conflicts"] == 0, r["stats"]
        own_last = max(seq for commits in r["acked"].values() for seq, _, _ in commits)
        assert r["stats"]["durable_commit_seq"] >= own_last, r["stats"]

    total = PROCESSES * THREADS * COMMITS_PER_THREAD
    history.sort(key=lambda h: h[0])
    seqs = [h[0] for h in history]
    duplicates = sorted({s for s in seqs if seqs.count(s) > 1})
    assert not duplicates, f"commit_seqs acknowledged twice: {duplicates}"
    assert seqs == list(range(1, total + 1)), "commit_seqs are not dense from 1"

    # Replaying the acknowledged commits in commit_seq order must give the
    # database: each writer's last image of its pages, and for the shared
    # page the image of the highest blind batch.
    expected: dict[int, bytes] = {}
    for _, _, _, _, writes in history:
        expected.update(writes)
    last_batch = max((h for h in history if SHARED_PGNO in h[4]), key=lambda h: h[0])

    # After the end barrier every process sees all commits of all others.
    for p in range(PROCESSES):
        r = results[f"writer-{p}"]
        assert r["snapshot_after"] == total, (p, r["snapshot_after"])
        assert r["last_commit_seq_after"] == total, (p, r["last_commit_seq_after"])
        assert r["shared_after"] == expected[SHARED_PGNO], p

    with libcommit.open(path, mode=mode) as db:
        stats = db.stats()
        assert stats["last_commit_seq"] == total, stats
        assert stats["durable_commit_seq"] == total, stats
        for pgno, data in expected.items():
            got = db.read(pgno)
            assert got == data, (pgno, describe(got), describe(data))
        assert decode(db.read(SHARED_PGNO))[:3] == last_batch[1:4]
    # How often the lease changed hands, to show the processes interleaved.
    switches = sum(1 for a, b in zip(history, history[1:]) if a[1] != b[1])
    print(
        f"COUNTS multiprocess ({mode}): {PROCESSES} processes x {THREADS} threads, {total} acknowledged "
        f"commits, seqs 1..{total} dense, {len(expected)} pages verified, "
        f"{switches} process switches",
        flush=True,
    )


# --- visibility and conflicts between two processes ------------------------------


def seed(path: str) -> int:
    """Creates the database with page 1 committed; returns its commit_seq."""
    with libcommit.open(path) as db:
        return db.commit({1: b"seed"})


def visibility_a(path: str, conn: Connection) -> dict[str, Any]:
    """Commits page 2 once B holds an older snapshot, then checks it sees
    B's later commit of page 3 in a new transaction."""
    with libcommit.open(path, busy_timeout_ms=BUSY_TIMEOUT_MS) as db:
        expect(conn, "b-has-snapshot")
        seq_a = db.commit({2: b"from A"})
        conn.send(("a-committed", seq_a))
        seq_b = expect(conn, "b-committed")
        with db.begin() as txn:
            return {
                "seq_a": seq_a,
                "seq_b": seq_b,
                "snapshot": txn.snapshot,
                "page3": txn.read(3),
                "latest3": db.read(3),
            }


def visibility_b(path: str, conn: Connection) -> dict[str, Any]:
    """Holds a snapshot from before A's commit, then begins a new one after
    it; then commits itself, which needs catching up on A's commit."""
    with libcommit.open(path, busy_timeout_ms=BUSY_TIMEOUT_MS) as db:
        old = db.begin()
        conn.send(("b-has-snapshot", old.snapshot))
        seq_a = expect(conn, "a-committed")
        out: dict[str, Any] = {"old_snapshot": old.snapshot, "old_page2": old.read(2)}
        old.abort()
        with db.begin() as txn:
            out["new_snapshot"] = txn.snapshot
            out["new_page2"] = txn.read(2)
        out["latest2"] = db.read(2)
        out["seq_a"] = seq_a
        out["seq_b"] = db.commit({3: b"from B"})
        conn.send(("b-committed", out["seq_b"]))
        return out


def test_reader_in_other_process_sees_commit_at_next_begin(path: str) -> None:
    seed_seq = seed(path)
    a_end, b_end = CTX.Pipe()
    r = run_children(
        {
            "A": (visibility_a, (path, a_end)),
            "B": (visibility_b, (path, b_end)),
        }
    )
    a, b = r["A"], r["B"]
    # B's older snapshot stays as it was; its next begin sees A's commit.
    assert b["old_snapshot"] == seed_seq
    assert b["old_page2"] is None
    assert a["seq_a"] == seed_seq + 1
    assert b["new_snapshot"] == a["seq_a"]
    assert b["new_page2"] == b"from A"
    assert b["latest2"] == b"from A"
    # B's commit follows A's (dense across processes), and A sees it.
    assert b["seq_b"] == a["seq_a"] + 1 == a["seq_b"]
    assert a["snapshot"] == b["seq_b"]
    assert a["page3"] == b"from B"
    assert a["latest3"] == b"from B"
    with libcommit.open(path) as db:
        assert db.stats()["last_commit_seq"] == b["seq_b"]
        assert [db.read(p) for p in (1, 2, 3)] == [b"seed", b"from A", b"from B"]


def conflict_a(path: str, conn: Connection) -> int:
    """Writes page 1 in a transaction and commits it first."""
    with libcommit.open(path, busy_timeout_ms=BUSY_TIMEOUT_MS) as db:
        txn = db.begin()
        txn.write(1, b"A wins")
        expect(conn, "b-has-written")
        seq = txn.commit()
        conn.send(("a-committed", seq))
        return seq


def conflict_b(path: str, conn: Connection) -> dict[str, Any]:
    """Writes page 1 at the same snapshot; its commit after A's must fail
    with CONFLICT naming page 1 and A's commit, and write nothing."""
    with libcommit.open(path, busy_timeout_ms=BUSY_TIMEOUT_MS) as db:
        txn = db.begin()
        snapshot = txn.snapshot
        txn.write(1, b"B loses")
        txn.write(2, b"B's other page")
        conn.send(("b-has-written", None))
        seq_a = expect(conn, "a-committed")
        try:
            seq = txn.commit()
        except libcommit.ConflictError as e:
            outcome: dict[str, Any] = {"conflict": True, "pages": e.pages, "at": e.commit_seq}
        else:
            outcome = {"conflict": False, "seq": seq}
        outcome.update(snapshot=snapshot, seq_a=seq_a, page1=db.read(1), page2=db.read(2))
        return outcome


def test_first_committer_wins_across_processes(path: str) -> None:
    seed_seq = seed(path)
    a_end, b_end = CTX.Pipe()
    r = run_children({"A": (conflict_a, (path, a_end)), "B": (conflict_b, (path, b_end))})
    b = r["B"]
    assert r["A"] == b["seq_a"] == seed_seq + 1
    assert b["snapshot"] == seed_seq
    assert b["conflict"], f"B committed over A's write as {b.get('seq')}"
    assert b["pages"] == [1] and b["at"] == r["A"], b
    assert b["page1"] == b"A wins" and b["page2"] is None, b
    with libcommit.open(path) as db:
        assert db.stats()["last_commit_seq"] == r["A"]
        assert db.read(1) == b"A wins" and db.read(2) is None
