"""Replication from Python with a file:// replica: open(replica=),
replica_status, wait_replicated, restore (latest, a seq, a time), and a
failover that fences the old writer (FencedError). The S3 servers'
suites are tests/replica_s3.rs (`make replica-test`)."""

from __future__ import annotations

import time

import pytest

import libcommit

WAIT = 30.0


def url_of(tmp_path, name="replica"):
    return "file://" + str(tmp_path / name)


def test_ships_and_restores(tmp_path):
    url = url_of(tmp_path)
    with libcommit.open(tmp_path / "db", replica=url) as db:
        for i in range(1, 31):
            assert db.commit({i % 5 + 1: b"commit %d" % i}) == i
        assert db.wait_replicated(30, WAIT) is True
        st = db.replica_status()
        assert st["state"] == "shipping"
        assert (st["epoch"], st["shipped_seq"], st["lag_commits"]) == (1, 30, 0)
        assert st["oldest_unshipped_ms"] == 0
        assert st["chunks_shipped"] >= 1
        assert sum(st["put_latency_ms"].values()) >= st["chunks_shipped"]
    assert libcommit.restore(url, tmp_path / "latest") == 30
    with libcommit.open(tmp_path / "latest") as r:
        assert r.read(1) == b"commit 30"
    assert libcommit.restore(url, tmp_path / "at12", seq=12) == 12
    with libcommit.open(tmp_path / "at12") as r:
        assert r.read(3) == b"commit 12"
        assert r.read(2) == b"commit 11"
    assert libcommit.restore(url, tmp_path / "t0", time=0.0) == 0


def test_restore_refuses_bad_targets(tmp_path):
    url = url_of(tmp_path)
    with libcommit.open(tmp_path / "db", replica=url) as db:
        db.commit({1: b"x"})
        assert db.wait_replicated(1, WAIT)
    with pytest.raises(libcommit.InvalidArgumentError):
        libcommit.restore(url, tmp_path / "past", seq=2)
    with pytest.raises(libcommit.InvalidArgumentError):
        libcommit.restore(url, tmp_path / "db")  # exists
    with pytest.raises(libcommit.InvalidArgumentError):
        libcommit.restore(url, tmp_path / "both", seq=1, time=1.0)


def test_bad_url_and_no_replica(tmp_path):
    with pytest.raises(libcommit.InvalidArgumentError):
        libcommit.open(tmp_path / "bad", replica="ftp://nowhere")
    with libcommit.open(tmp_path / "plain") as db:
        assert db.replica_status()["state"] == "off"
        with pytest.raises(libcommit.InvalidArgumentError):
            db.wait_replicated(1, 0.1)


def test_a_failed_over_writer_is_fenced(tmp_path):
    url = url_of(tmp_path)
    a = libcommit.open(tmp_path / "a", replica=url)
    s1 = a.commit({1: b"from a"})
    assert a.wait_replicated(s1, WAIT)
    libcommit.restore(url, tmp_path / "b")
    with libcommit.open(tmp_path / "b", replica=url) as b:
        s2 = b.commit({1: b"from b"})
        assert b.wait_replicated(s2, WAIT)
        assert b.replica_status()["epoch"] == 2
        try:
            a.commit({2: b"late"})
        except libcommit.FencedError:
            pass
        # Fenced: the wait answers at once instead of waiting out its timeout.
        t = time.monotonic()
        assert a.wait_replicated(s2, WAIT) is False
        assert time.monotonic() - t < WAIT / 2
        st = a.replica_status()
        assert st["state"] == "fenced" and st["last_error"]
        with pytest.raises(libcommit.FencedError) as e:
            a.commit({3: b"refused"})
        assert e.value.status == libcommit.Status.FENCED
        assert isinstance(e.value, libcommit.Error)
    a.close()
    assert libcommit.restore(url, tmp_path / "r") == s2
    with libcommit.open(tmp_path / "r") as r:
        assert r.read(1) == b"from b"
