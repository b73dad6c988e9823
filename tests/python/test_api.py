"""The public API of API.md: names, arguments, return types, behaviour."""

from __future__ import annotations

import array
import gc
import glob
import importlib.metadata
import inspect
import os
import pickle
import re
import subprocess
import sys
import time
import types

import pytest

import libcommit
from conftest import page, run_python

STATS_FIELDS = {
    "commits",
    "conflicts",
    "syncs",
    "bytes_logged",
    "last_commit_seq",
    "durable_commit_seq",
    "checkpoint_seq",
    "active_readers",
    "retained_versions",
}


# --- module surface ---------------------------------------------------------


def test_version_is_the_package_version():
    assert re.fullmatch(r"\d+\.\d+\.\d+", libcommit.__version__)
    assert libcommit.__version__ == importlib.metadata.version("libcommit")


def test_all_names_exist_and_have_docstrings():
    for name in libcommit.__all__:
        obj = getattr(libcommit, name)
        if name != "__version__":
            assert obj.__doc__, name
    for cls in (
        libcommit.Database,
        libcommit.Transaction,
        libcommit.RecoveryReport,
        libcommit.CheckpointReport,
    ):
        for member, value in vars(cls).items():
            if not member.startswith("_"):
                assert value.__doc__, f"{cls.__name__}.{member}"


def test_package_is_typed():
    directory = os.path.dirname(libcommit.__file__)
    assert os.path.exists(os.path.join(directory, "py.typed"))
    assert os.path.exists(os.path.join(directory, "_native.pyi"))


def test_open_signature():
    sig = inspect.signature(libcommit.open)
    assert str(sig) == (
        "(path, *, page_size=4096, sync='full', mode='wal', isolation='snapshot', "
        "lanes=0, max_flush_delay_us=0, busy_timeout_ms=5000, read_only=False, replica=None, "
        "replica_snapshot_interval_ms=3600000, replica_retain_snapshots=2, "
        "replica_retain_window_ms=86400000, replica_delete_grace_ms=600000)"
    )
    assert str(inspect.signature(libcommit.recover)) == (
        "(path, *, skip_corrupt=False, delete_after=False)"
    )


def test_exception_tree():
    for cls in (
        libcommit.ConflictError,
        libcommit.BusyError,
        libcommit.CorruptError,
        libcommit.StorageError,
        libcommit.ClosedError,
        libcommit.ReadOnlyError,
    ):
        assert issubclass(cls, libcommit.Error)
    assert issubclass(libcommit.Error, Exception)
    assert libcommit.ConflictError.status == 2
    assert libcommit.BusyError.status == 3
    assert libcommit.CorruptError.status == 4
    assert libcommit.StorageError.status == 5
    assert libcommit.ClosedError.status == 8
    assert libcommit.ReadOnlyError.status == 9
    assert issubclass(libcommit.InvalidArgumentError, ValueError)
    assert repr(libcommit.ClosedError).startswith("<class 'libcommit.ClosedError'")


# --- basic use --------------------------------------------------------------


def test_commit_and_read(db):
    assert db.page_size == 4096
    assert db.read(1) is None
    seq = db.commit({1: b"one", 2: b"two"})
    assert seq == 1
    assert db.read(1) == b"one"
    assert type(db.read(2)) is bytes
    assert db.commit([(3, b"three"), (1, None)]) == 2
    assert db.read(1) is None
    assert db.read(3) == b"three"
    assert db.commit(iter([[4, b"four"]])) == 3
    assert db.read(4) == b"four"
    assert db.commit(types.MappingProxyType({5: b"five"})) == 4
    assert db.commit((pgno, b"gen") for pgno in (6, 7)) == 5
    assert db.read(5) == b"five"
    assert db.read(7) == b"gen"


def test_commit_seq_is_dense(db):
    seqs = [db.commit({i: page(i)}) for i in range(1, 21)]
    assert seqs == list(range(1, 21))
    assert db.stats()["last_commit_seq"] == 20


def test_empty_and_full_pages(db):
    db.commit({1: b"", 2: b"x" * 4096})
    assert db.read(1) == b""
    assert db.read(2) == b"x" * 4096


def test_sparse_page_numbers(path):
    top = 2**32 - 1
    with libcommit.open(path) as db:
        db.commit({top: b"top", 1: b"bottom", 1 << 20: b"middle"})
        db.checkpoint()
        assert db.read(top) == b"top"
    with libcommit.open(path) as db:
        assert db.read(top) == b"top"
        assert db.read(1 << 20) == b"middle"
        assert db.read(1) == b"bottom"
    # Disk use (not the apparent size of a sparse file) stays small.
    used = sum(os.stat(p).st_blocks * 512 for p in glob.glob(glob.escape(path) + "*"))
    assert used < 64 << 20


@pytest.mark.parametrize(
    "data",
    [
        b"abc",
        bytearray(b"abc"),
        memoryview(b"abc"),
        memoryview(bytearray(b"xabcx"))[1:4],
        memoryview(b"aXbXc")[::2],
        array.array("B", b"abc"),
    ],
    ids=["bytes", "bytearray", "memoryview", "slice", "strided", "array"],
)
def test_buffer_protocol(db, data):
    db.commit({1: data})
    assert db.read(1) == b"abc"
    with db.begin() as txn:
        txn.write(2, data)
    assert db.read(2) == b"abc"


def test_mutating_the_buffer_after_write_changes_nothing(db):
    buf = bytearray(b"before")
    with db.begin() as txn:
        txn.write(1, buf)
        buf[:] = b"after!"
    assert db.read(1) == b"before"


def test_database_attributes(path):
    db = libcommit.open(path, page_size=8192)
    assert db.path == path
    assert db.page_size == 8192
    assert db.closed is False
    assert isinstance(db.last_recovery, libcommit.RecoveryReport)
    db.close()
    assert db.closed is True
    assert db.path == path
    assert "closed" in repr(db)


def test_pathlike_and_bytes_paths(tmp_path):
    p = tmp_path / "pathlike.db"
    with libcommit.open(p) as db:
        assert db.path == str(p)
        db.commit({1: b"x"})
    with libcommit.open(os.fsencode(p)) as db:
        assert db.read(1) == b"x"


def test_stats(db):
    stats = db.stats()
    assert set(stats) == STATS_FIELDS
    assert all(type(v) is int for v in stats.values())
    db.commit({1: b"a"})
    db.commit({1: b"b"})
    stats = db.stats()
    assert stats["commits"] == 2
    assert stats["last_commit_seq"] == 2
    assert stats["durable_commit_seq"] == 2
    assert stats["syncs"] >= 1
    assert stats["bytes_logged"] >= 2
    assert stats["conflicts"] == 0


def test_checkpoint(db):
    for i in range(1, 11):
        db.commit({i: page(i)})
    report = db.checkpoint()
    assert isinstance(report, libcommit.CheckpointReport)
    assert report.checkpoint_seq == 10
    assert isinstance(report.pages_written, int)
    assert isinstance(report.segments_removed, int)
    assert "CheckpointReport(" in repr(report)
    assert db.stats()["checkpoint_seq"] == 10
    for i in range(1, 11):
        assert db.read(i) == page(i)
    assert db.commit({1: b"after"}) == 11


def test_all_options_accepted(path):
    with libcommit.open(
        path,
        page_size=4096,
        sync="normal",
        mode="wal",
        isolation="serializable",
        lanes=1,
        max_flush_delay_us=10,
        busy_timeout_ms=100,
        read_only=False,
    ) as db:
        db.commit({1: b"x"})


@pytest.mark.parametrize("sync", ["full", "normal", "off"])
@pytest.mark.parametrize("mode", ["wal", "native"])
def test_modes_roundtrip(path, sync, mode):
    with libcommit.open(path, sync=sync, mode=mode) as db:
        for i in range(1, 6):
            db.commit({i: page(i), i + 100: page(i + 100)})
        with db.begin() as txn:
            txn.write(50, b"txn")
    with libcommit.open(path, sync=sync, mode=mode) as db:
        for i in range(1, 6):
            assert db.read(i) == page(i)
            assert db.read(i + 100) == page(i + 100)
        assert db.read(50) == b"txn"
        assert db.stats()["last_commit_seq"] == 6


@pytest.mark.parametrize("page_size", [512, 65536])
def test_page_size_bounds(path, page_size):
    with libcommit.open(path, page_size=page_size) as db:
        db.commit({1: b"z" * page_size})
        assert db.read(1) == b"z" * page_size
        with pytest.raises(ValueError):
            db.commit({1: b"z" * (page_size + 1)})


# --- transactions -----------------------------------------------------------


def test_transaction_snapshot_isolation(db):
    db.commit({1: b"old", 4: b"four"})
    txn = db.begin()
    assert txn.snapshot == 1
    db.commit({1: b"new", 2: b"other"})
    assert txn.read(1) == b"old"
    assert txn.read(2) is None
    txn.write(3, b"mine")
    assert txn.read(3) == b"mine"
    txn.delete(4)
    assert txn.read(4) is None
    assert db.read(3) is None
    assert db.read(4) == b"four"
    assert txn.commit() == 3
    assert db.read(3) == b"mine"
    assert db.read(4) is None
    assert db.read(1) == b"new"
    assert db.read(2) == b"other"


def test_read_only_transaction_commit_returns_snapshot(db):
    db.commit({1: b"a"})
    txn = db.begin()
    assert txn.read(1) == b"a"
    assert txn.commit() == 1


def test_conflict(db):
    db.commit({1: b"base"})
    t1 = db.begin()
    t2 = db.begin()
    t1.write(1, b"t1")
    t2.write(1, b"t2")
    t2.write(2, b"t2")
    seq = t1.commit()
    with pytest.raises(libcommit.ConflictError) as info:
        t2.commit()
    err = info.value
    assert err.pages == [1]
    assert err.commit_seq == seq
    assert err.status == 2
    assert str(err).startswith("commit:")
    assert db.read(1) == b"t1"
    assert db.read(2) is None
    assert db.stats()["conflicts"] == 1
    # The losing transaction is finished.
    with pytest.raises(libcommit.ClosedError):
        t2.commit()
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), again.pages, again.commit_seq) == (type(err), [1], seq)


def test_blind_batches_never_conflict(db):
    txn = db.begin()
    db.commit({1: b"a"})
    db.commit({1: b"b"})
    assert db.read(1) == b"b"
    txn.abort()


def test_serializable_validates_reads(path):
    with libcommit.open(path, isolation="serializable") as db:
        db.commit({1: b"x", 2: b"y"})
        txn = db.begin()
        assert txn.read(1) == b"x"
        txn.write(2, b"depends on page 1")
        db.commit({1: b"changed"})
        with pytest.raises(libcommit.ConflictError) as info:
            txn.commit()
        assert 1 in info.value.pages


def test_snapshot_isolation_ignores_reads(db):
    db.commit({1: b"x", 2: b"y"})
    txn = db.begin()
    txn.read(1)
    txn.write(2, b"ok")
    db.commit({1: b"changed"})
    assert txn.commit() == 3


def test_transaction_context_manager_commits(db):
    with db.begin() as txn:
        txn.write(1, b"committed")
    assert db.read(1) == b"committed"
    with pytest.raises(libcommit.ClosedError):
        txn.read(1)


def test_transaction_context_manager_aborts_on_exception(db):
    with pytest.raises(KeyError):
        with db.begin() as txn:
            txn.write(1, b"never")
            raise KeyError("boom")
    assert db.read(1) is None
    with pytest.raises(libcommit.ClosedError):
        txn.write(1, b"x")


def test_transaction_context_manager_after_explicit_finish(db):
    with db.begin() as txn:
        txn.write(1, b"a")
        txn.commit()
    with db.begin() as txn:
        txn.write(2, b"b")
        txn.abort()
    assert db.read(1) == b"a"
    assert db.read(2) is None


def test_transaction_context_manager_raises_conflict(db):
    with pytest.raises(libcommit.ConflictError):
        with db.begin() as txn:
            txn.write(1, b"mine")
            db.commit({1: b"theirs"})
    assert db.read(1) == b"theirs"


def test_finished_transaction_raises_closed(db):
    txn = db.begin()
    txn.write(1, b"x")
    txn.commit()
    for call in (
        lambda: txn.read(1),
        lambda: txn.write(1, b"y"),
        lambda: txn.delete(1),
        lambda: txn.commit(),
        lambda: txn.snapshot,
    ):
        with pytest.raises(libcommit.ClosedError) as info:
            call()
        assert info.value.status == 8
    txn.abort()  # harmless
    aborted = db.begin()
    aborted.abort()
    aborted.abort()
    with pytest.raises(libcommit.ClosedError):
        aborted.commit()
    assert "finished" in repr(aborted)


def test_dropped_transaction_is_aborted(db):
    txn = db.begin()
    txn.write(1, b"dropped")
    del txn
    gc.collect()
    assert db.read(1) is None
    assert db.stats()["active_readers"] == 0


# --- closing ----------------------------------------------------------------


def test_database_context_manager(path):
    with libcommit.open(path) as db:
        db.commit({1: b"x"})
    assert db.closed
    with pytest.raises(libcommit.ClosedError):
        db.read(1)


def test_database_context_manager_closes_on_exception(path):
    with pytest.raises(RuntimeError):
        with libcommit.open(path) as db:
            raise RuntimeError
    assert db.closed


def test_closed_database_raises(path):
    db = libcommit.open(path)
    db.close()
    db.close()  # harmless
    for call in (
        db.begin,
        lambda: db.commit({1: b"x"}),
        lambda: db.read(1),
        db.checkpoint,
        db.stats,
    ):
        with pytest.raises(libcommit.ClosedError):
            call()


def test_close_invalidates_transactions(path):
    db = libcommit.open(path)
    db.commit({1: b"x"})
    txn = db.begin()
    txn.write(2, b"y")
    db.close()
    for call in (
        lambda: txn.read(1),
        lambda: txn.write(1, b"y"),
        lambda: txn.delete(1),
        lambda: txn.commit(),
    ):
        with pytest.raises(libcommit.ClosedError):
            call()
    txn.abort()  # harmless
    with libcommit.open(path) as db:
        assert db.read(1) == b"x"
        assert db.read(2) is None


def test_dropped_database_closes_cleanly(path):
    db = libcommit.open(path)
    db.commit({1: b"kept"})
    txn = db.begin()
    del db
    gc.collect()
    txn.abort()
    del txn
    gc.collect()
    with libcommit.open(path) as db:
        assert db.read(1) == b"kept"


def test_process_exit_without_close(path):
    run_python(
        """
        import sys, libcommit
        db = libcommit.open(sys.argv[1])
        db.commit({1: b"left open"})
        txn = db.begin()
        txn.write(2, b"never committed")
        """,
        path,
    )
    with libcommit.open(path) as db:
        assert db.read(1) == b"left open"
        assert db.read(2) is None


def test_two_handles_on_one_path(path):
    with libcommit.open(path) as a, libcommit.open(path) as b:
        a.commit({1: b"from a"})
        assert b.read(1) == b"from a"
        b.commit({2: b"from b"})
        assert a.read(2) == b"from b"
        a.close()
        assert b.read(1) == b"from a"


def test_read_only(path):
    with libcommit.open(path) as db:
        db.commit({1: b"x"})
    with libcommit.open(path, read_only=True) as db:
        assert db.read(1) == b"x"
        with pytest.raises(libcommit.ReadOnlyError) as info:
            db.commit({1: b"y"})
        assert info.value.status == 9
        with pytest.raises(libcommit.ReadOnlyError):
            with db.begin() as txn:
                txn.write(2, b"y")
    with libcommit.open(path) as db:
        assert db.read(1) == b"x"


def test_read_only_missing_database(tmp_path):
    with pytest.raises(libcommit.Error):
        libcommit.open(str(tmp_path / "missing.db"), read_only=True)
    assert not os.path.exists(tmp_path / "missing.db")


def test_another_process_shares_the_database_and_offline_recovery_is_busy(path):
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, libcommit\n"
            "db = libcommit.open(sys.argv[1])\n"
            "db.commit({1: b'child'})\n"
            "print('ready', flush=True)\n"
            "sys.stdin.read()\n",
            path,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        # Processes share a database: this one joins and sees the child's commit.
        with libcommit.open(path, busy_timeout_ms=200) as db:
            assert db.read(1) == b"child"
            db.commit({2: b"parent"})
        # Offline recovery needs the database closed everywhere.
        with pytest.raises(libcommit.BusyError) as info:
            libcommit.recover(path)
        assert info.value.status == 3
    finally:
        child.communicate(timeout=60)
    libcommit.recover(path)
    with libcommit.open(path, busy_timeout_ms=200) as db:
        assert db.read(1) == b"child"
        assert db.read(2) == b"parent"
