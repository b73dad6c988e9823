"""Reopen, offline recovery, and corrupted segments."""

from __future__ import annotations

import os

import pytest

import libcommit
from conftest import commit_and_exit, corrupt_page, page, segments


def test_reopen_keeps_everything(path):
    with libcommit.open(path) as db:
        for i in range(1, 31):
            db.commit({i: page(i)})
        db.commit({5: None})
    with libcommit.open(path) as db:
        for i in range(1, 31):
            assert db.read(i) == (None if i == 5 else page(i))
        assert db.stats()["last_commit_seq"] == 31
        assert db.commit({100: b"next"}) == 32
        report = db.last_recovery
        assert isinstance(report, libcommit.RecoveryReport)
        assert isinstance(report.partial_segments, list)


def test_last_recovery_after_crash(path):
    commit_and_exit(path, 25)
    assert segments(path), "the child left no WAL segment"
    with libcommit.open(path) as db:
        report = db.last_recovery
        assert report.last_commit_seq == 25
        assert report.commits_recovered == 25
        assert report.records_applied == 25
        assert report.segments_recovered >= 1
        assert report.bytes_read >= 25 * 4096
        assert report.partial_segments == []
        assert "RecoveryReport(" in repr(report)
        for i in range(1, 26):
            assert db.read(i) == page(i)
        assert db.commit({26: page(26)}) == 26


def test_recover_offline(path):
    commit_and_exit(path, 20)
    report = libcommit.recover(path)
    assert isinstance(report, libcommit.RecoveryReport)
    assert report.last_commit_seq == 20
    assert report.commits_recovered == 20
    assert report.partial_segments == []
    with libcommit.open(path) as db:
        for i in range(1, 21):
            assert db.read(i) == page(i)
        assert db.commit({21: page(21)}) == 21


def test_recover_delete_after(path):
    commit_and_exit(path, 10)
    report = libcommit.recover(path, delete_after=True)
    assert report.last_commit_seq == 10
    assert segments(path) == []
    with libcommit.open(path) as db:
        for i in range(1, 11):
            assert db.read(i) == page(i)
        assert db.commit({11: b"x"}) == 11


def test_recover_pathlike(tmp_path):
    path = tmp_path / "pl.db"
    commit_and_exit(str(path), 3)
    assert libcommit.recover(path).last_commit_seq == 3


@pytest.mark.parametrize("sync", ["full", "normal", "off"])
def test_corrupt_segment_fails_open_and_recover(path, sync):
    commit_and_exit(path, 40, sync=sync)
    corrupt_page(path, 20)
    before = {p: open(p, "rb").read() for p in segments(path)}
    with pytest.raises(libcommit.CorruptError) as info:
        libcommit.open(path)
    assert info.value.status == 4
    assert str(info.value).startswith("open:")
    with pytest.raises(libcommit.CorruptError):
        libcommit.recover(path)
    # Failing open and recovery touch nothing.
    assert {p: open(p, "rb").read() for p in segments(path)} == before


def test_recover_skip_corrupt_keeps_the_durable_prefix(path):
    commit_and_exit(path, 40)
    corrupt_page(path, 20)
    report = libcommit.recover(path, skip_corrupt=True)
    kept = report.last_commit_seq
    assert 1 <= kept < 20
    assert isinstance(report.partial_segments, list)
    for name in report.partial_segments:
        assert isinstance(name, str)
        assert name.startswith(path + "-wal-seg-")
        assert os.path.exists(name + ".corrupt")
    with libcommit.open(path) as db:
        for i in range(1, kept + 1):
            assert db.read(i) == page(i)
        for i in range(kept + 1, 41):
            assert db.read(i) is None
        assert db.stats()["last_commit_seq"] == kept
        assert db.commit({99: b"after recovery"}) == kept + 1
    with libcommit.open(path) as db:
        assert db.read(99) == b"after recovery"


def test_recover_skip_corrupt_sets_later_segments_aside(path):
    # 300 commits of 16 pages (19 MiB) fill more than one 16 MiB segment.
    per_commit = 16
    commit_and_exit(path, 300, per_commit=per_commit)
    assert len(segments(path)) >= 2
    corrupt_page(path, 100 * per_commit - 8)  # in commit 100
    later = segments(path)[1:]
    with pytest.raises(libcommit.CorruptError):
        libcommit.open(path)
    report = libcommit.recover(path, skip_corrupt=True)
    kept = report.last_commit_seq
    assert 1 <= kept < 100
    # Every segment not replayed is named and kept as "{segment}.corrupt".
    for segment in later:
        assert segment in report.partial_segments
        assert os.path.exists(segment + ".corrupt")
        assert not os.path.exists(segment)
    with libcommit.open(path) as db:
        assert db.stats()["last_commit_seq"] == kept
        assert db.read(kept * per_commit) == page(kept * per_commit)
        assert db.read(kept * per_commit + 1) is None
        assert db.read(300 * per_commit) is None
        assert db.commit({1: b"again"}) == kept + 1
    for segment in later:
        assert os.path.exists(segment + ".corrupt")


def test_recover_missing_database(tmp_path):
    with pytest.raises(libcommit.Error):
        libcommit.recover(str(tmp_path / "missing.db"))
