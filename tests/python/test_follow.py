"""Read replicas from Python with a file:// replica: libcommit.follow
restores (or resumes) a database and applies the replica's new commits,
refusing its own (ReadOnlyError); promote() makes it the writer with a new
epoch and fences the old one (FencedError); a database with commits the
replica never had is a fork, refused - or replaced with resnapshot=True.
The engine's suites are tests/follow.rs and tests/follow_procs.rs."""

from __future__ import annotations

import inspect
import threading
import time
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

import libcommit

WAIT = 30.0
# The follower looks for new chunks this often (ms): fast, for the tests.
POLL_MS = 5

Model = Dict[int, bytes]


def url_of(tmp_path: Path, name: str = "replica") -> str:
    return "file://" + str(tmp_path / name)


def ship(db: libcommit.Database, model: Model, n: int) -> int:
    """Makes n commits on db (each rewrites one of 8 pages and deletes or
    writes one more), applies them to model, and waits until they are all
    in the replica; returns the last commit_seq."""
    seq = 0
    for _ in range(n):
        k = db.stats()["last_commit_seq"] + 1
        writes: Dict[int, Optional[bytes]] = {k % 8 + 1: b"commit %d" % k}
        if k % 5 == 0:
            writes[9] = None
        elif k % 5 == 2:
            writes[9] = b"nine %d" % k
        seq = db.commit(writes)
        assert seq == k
        for pgno, data in writes.items():
            if data is None:
                model.pop(pgno, None)
            else:
                model[pgno] = data
    assert db.wait_replicated(seq, WAIT) is True, db.replica_status()
    return seq


def wait_applied(db: libcommit.Database, seq: int) -> Dict[str, Any]:
    """Polls the follower's status until it applied commit seq; its status."""
    deadline = time.monotonic() + WAIT
    while True:
        st = db.replica_status()
        if st["applied_seq"] >= seq:
            break
        assert time.monotonic() < deadline, f"follower stuck before {seq}: {st}"
        time.sleep(0.002)
    assert db.stats()["last_commit_seq"] >= seq
    return st


def assert_pages(db: libcommit.Database, model: Model) -> None:
    for pgno in range(1, 11):
        assert db.read(pgno) == model.get(pgno), pgno


def test_follow_signature_and_export() -> None:
    assert "follow" in libcommit.__all__
    assert libcommit.follow.__doc__
    assert libcommit.Database.promote.__doc__
    assert str(inspect.signature(libcommit.follow)) == (
        "(url, path, *, poll_ms=100, resnapshot=False, sync='full', mode='wal', "
        "isolation='snapshot', lanes=0, max_flush_delay_us=0, busy_timeout_ms=5000, "
        "replica_snapshot_interval_ms=3600000, replica_retain_snapshots=2, "
        "replica_retain_window_ms=86400000, replica_delete_grace_ms=600000)"
    )


def test_a_follower_converges_and_refuses_local_commits(tmp_path: Path) -> None:
    url = url_of(tmp_path)
    model: Model = {}
    w = libcommit.open(tmp_path / "w", replica=url)
    first = ship(w, model, 30)
    f = libcommit.follow(url, tmp_path / "f", poll_ms=POLL_MS, sync="normal")
    assert f.sync == "normal"
    assert f.path == str(tmp_path / "f")
    assert f.stats()["last_commit_seq"] == first  # restored at once
    assert_pages(f, model)
    for n in (1, 20):
        last = ship(w, model, n)
        st = wait_applied(f, last)
        assert_pages(f, model)
    assert st["state"] == "following", st
    assert st["epoch"] == 1
    for key in ("applied_seq", "behind_commits", "behind_ms", "apply_lag_ms"):
        assert isinstance(st[key], int) and st[key] >= 0, (key, st)
    # Caught up: nothing the store holds is left to apply.
    deadline = time.monotonic() + WAIT
    while f.replica_status()["behind_commits"] != 0:
        assert time.monotonic() < deadline, f.replica_status()
        time.sleep(0.005)
    with pytest.raises(libcommit.ReadOnlyError) as info:
        f.commit({1: b"local"})
    assert str(info.value).startswith("commit:")
    with pytest.raises(libcommit.ReadOnlyError):
        with f.begin() as txn:
            txn.write(2, b"local too")
    assert_pages(f, model)
    # Closed and reopened, it resumes where it stopped.
    f.close()
    last = ship(w, model, 12)
    with libcommit.follow(url, tmp_path / "f", poll_ms=POLL_MS) as f:
        wait_applied(f, last)
        assert_pages(f, model)
    w.close()
    # Its files are an ordinary database once closed: the same pages.
    with libcommit.open(tmp_path / "f", read_only=True) as r:
        assert_pages(r, model)


def test_promotion_fences_the_old_writer(tmp_path: Path) -> None:
    url = url_of(tmp_path)
    model: Model = {}
    wp = tmp_path / "w"
    w = libcommit.open(wp, replica=url)
    last = ship(w, model, 25)
    f = libcommit.follow(url, tmp_path / "f", poll_ms=POLL_MS)
    wait_applied(f, last)
    w.close()
    assert f.promote() == 2
    st = f.replica_status()
    assert (st["state"], st["epoch"]) == ("shipping", 2), st
    last = ship(f, model, 10)
    assert_pages(f, model)
    # The old writer comes back: fenced before its first commit.
    old = libcommit.open(wp, replica=url)
    with pytest.raises(libcommit.FencedError):
        old.commit({1: b"from the old writer"})
    old.close()
    # A new follower follows the new writer's history.
    with libcommit.follow(url, tmp_path / "g", poll_ms=POLL_MS) as g:
        wait_applied(g, last)
        assert_pages(g, model)
        last = ship(f, model, 4)
        wait_applied(g, last)
        assert_pages(g, model)
    # It follows no more: promoting it again is a bad argument.
    with pytest.raises(libcommit.InvalidArgumentError) as info:
        f.promote()
    assert str(info.value).startswith("promote:")
    f.close()


def test_promote_releases_the_gil(tmp_path: Path) -> None:
    url = url_of(tmp_path)
    model: Model = {}
    with libcommit.open(tmp_path / "w", replica=url) as w:
        last = ship(w, model, 5)
    f = libcommit.follow(url, tmp_path / "f", poll_ms=POLL_MS)
    wait_applied(f, last)
    ticks = 0
    done = threading.Event()

    def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=tick)
    t.start()
    try:
        before = ticks
        assert f.promote() == 2
        # Python ran while promote waited (it takes at least one poll).
        assert ticks > before
    finally:
        done.set()
        t.join()
    f.close()


def test_a_fork_is_refused_unless_resnapshotted(tmp_path: Path) -> None:
    url = url_of(tmp_path)
    model: Model = {}
    wp = tmp_path / "w"
    w = libcommit.open(wp, replica=url)
    shipped = ship(w, model, 20)
    w.close()
    # Commits the replica never gets: the old writer's disk, opened later
    # without its replica.
    with libcommit.open(wp) as local:
        forked = dict(model)
        for i in range(3):
            local.commit({1: b"forked %d" % i})
            forked[1] = b"forked %d" % i
        assert local.stats()["last_commit_seq"] == shipped + 3
    f = libcommit.follow(url, tmp_path / "f", poll_ms=POLL_MS)
    wait_applied(f, shipped)
    assert f.promote() == 2
    last = ship(f, model, 6)
    with pytest.raises(libcommit.FencedError) as info:
        libcommit.follow(url, wp, poll_ms=POLL_MS)
    assert "fork" in str(info.value), info.value
    assert str(info.value).startswith("follow:")
    assert info.value.status == libcommit.Status.FENCED
    # Refused, it was left as it was.
    with libcommit.open(wp, read_only=True) as r:
        assert_pages(r, forked)
    with libcommit.follow(url, wp, poll_ms=POLL_MS, resnapshot=True) as again:
        wait_applied(again, last)
        assert_pages(again, model)
        assert again.replica_status()["state"] == "following"
        last = ship(f, model, 3)
        wait_applied(again, last)
        assert_pages(again, model)
    f.close()


def test_a_follower_may_start_before_the_writer(tmp_path: Path) -> None:
    url = url_of(tmp_path)
    model: Model = {}
    # The replica holds nothing yet: an empty database that waits for it.
    with libcommit.follow(url, tmp_path / "f", poll_ms=POLL_MS) as f:
        st = f.replica_status()
        assert (st["state"], st["applied_seq"]) == ("following", 0), st
        assert f.stats()["last_commit_seq"] == 0
        with libcommit.open(tmp_path / "w", replica=url) as w:
            last = ship(w, model, 3)
        assert wait_applied(f, last)["epoch"] == 1
        assert_pages(f, model)


def test_a_database_of_no_replica_is_refused(tmp_path: Path) -> None:
    url = url_of(tmp_path)
    with libcommit.open(tmp_path / "w", replica=url) as w:
        last = ship(w, {}, 2)
    plain = tmp_path / "plain"
    with libcommit.open(plain) as p:
        p.commit({1: b"mine"})
        with pytest.raises(libcommit.InvalidArgumentError):
            p.promote()
    with pytest.raises(libcommit.InvalidArgumentError):
        libcommit.follow(url, plain, poll_ms=POLL_MS)
    # resnapshot replaces it with the replica's history.
    with libcommit.follow(url, plain, poll_ms=POLL_MS, resnapshot=True) as f:
        wait_applied(f, last)
        assert f.stats()["last_commit_seq"] == last


def test_bad_arguments(tmp_path: Path) -> None:
    url = url_of(tmp_path)
    path = tmp_path / "f"
    with pytest.raises(TypeError) as type_info:
        libcommit.follow(None, path)  # type: ignore[arg-type]
    assert "follow: url must be" in str(type_info.value)
    assert "NoneType" in str(type_info.value)
    with pytest.raises(TypeError):
        libcommit.follow(url.encode(), path)  # type: ignore[arg-type]
    for bad in ("ftp://nowhere", "", "file://", "nowhere"):
        with pytest.raises(libcommit.InvalidArgumentError) as info:
            libcommit.follow(bad, path)
        assert str(info.value).startswith("follow:"), info.value
    with pytest.raises(TypeError):
        libcommit.follow(url, None)  # type: ignore[arg-type]
    with pytest.raises(libcommit.InvalidArgumentError) as info:
        libcommit.follow(url, path, poll_ms=0)
    assert "poll_ms" in str(info.value)
    with pytest.raises(libcommit.InvalidArgumentError):
        libcommit.follow(url, path, poll_ms=-1)
    with pytest.raises(TypeError):
        libcommit.follow(url, path, poll_ms="5")  # type: ignore[arg-type]
    with pytest.raises(libcommit.InvalidArgumentError) as info:
        libcommit.follow(url, path, sync="sometimes")  # type: ignore[arg-type]
    assert str(info.value).startswith("follow:")
    with pytest.raises(TypeError):
        libcommit.follow(url, path, page_size=4096)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        libcommit.follow(url, path, read_only=True)  # type: ignore[call-arg]
    assert not path.exists()
    # Closed: promote raises ClosedError like every other method.
    db = libcommit.open(tmp_path / "closed")
    db.close()
    with pytest.raises(libcommit.ClosedError):
        db.promote()
