"""Snapshots and retention from Python: the open keywords reach the
shipper (a snapshot after a checkpoint, the old one deleted with no grace
period), replica_status reports snapshots, and a bad count is refused."""

from __future__ import annotations

import os
import time

import pytest

import libcommit

WAIT_S = 30.0


def wait_for(what, check) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_snapshots_and_retention_follow_the_open_keywords(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = "file://" + str(tmp_path / "replica")
    db = libcommit.open(
        str(tmp_path / "db"),
        replica=url,
        replica_snapshot_interval_ms=0,
        replica_retain_snapshots=1,
        replica_retain_window_ms=0,
        replica_delete_grace_ms=0,
    )
    for round_ in (1, 2):
        for i in range(1, 6):
            db.commit({i: b"round %d page %d" % (round_, i)})
        assert db.wait_replicated(5 * round_, WAIT_S)
        db.checkpoint()
        wait_for("snapshot", lambda: db.replica_status()["snapshots_made"] >= round_)
    st = db.replica_status()
    assert (st["state"], st["snapshot_seq"]) == ("shipping", 10)

    def markers() -> list[str]:
        return [n for n in os.listdir(tmp_path / "replica" / "snapshot") if n.endswith(".snap")]

    wait_for("retention", lambda: len(markers()) == 1)
    db.close()
    assert libcommit.restore(url, str(tmp_path / "r")) == 10
    with libcommit.open(str(tmp_path / "r")) as r:
        assert r.read(3) == b"round 2 page 3"


def test_a_replica_keeps_at_least_one_snapshot(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        libcommit.open(
            str(tmp_path / "db"),
            replica="file://" + str(tmp_path / "x"),
            replica_retain_snapshots=0,
        )
