"""Operability: commit tickets and the durable watermark (also from
threads), per-transaction sync, metrics, the per-segment recovery report
(torn tail, skip_corrupt), libcommit.info / verify, and
``python -m libcommit info|verify``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

import libcommit
from conftest import commit_and_exit, corrupt_page, page, segments

WAIT = 30.0


# --- tickets and the watermark ----------------------------------------------


def test_commit_sync_is_a_ticket(db):
    seq = db.commit({1: b"ticket"}, sync="normal")
    assert seq == 1
    assert db.wait_durable(seq, WAIT) is True
    assert db.durable_seq() >= seq
    assert db.read(1) == b"ticket"
    assert db.commit({2: b"off"}, sync="OFF") == 2  # case-insensitive
    assert db.commit({3: b"full"}, sync="full") == 3
    assert db.durable_seq() >= 3, "a FULL commit returns durable"
    assert db.commit({4: b"default"}, sync=None) == 4
    # Already durable: a zero timeout answers at once; 0 is trivially durable.
    assert db.wait_durable(3, 0) is True
    assert db.wait_durable(0) is True


def test_commit_sync_bad_values_write_nothing(db):
    with pytest.raises(ValueError) as info:
        db.commit({1: b"x"}, sync="fast")
    assert isinstance(info.value, libcommit.InvalidArgumentError)
    assert str(info.value).startswith("commit:")
    with pytest.raises(TypeError):
        db.commit({1: b"x"}, sync=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        db.commit({1: b"x"}, "normal")  # type: ignore[misc]  # keyword-only
    with pytest.raises(ValueError):
        db.commit({1: b"x", 0: b"zero"}, sync="normal")
    assert db.stats()["last_commit_seq"] == 0
    assert db.read(1) is None


def test_wait_durable_bad_arguments(db):
    seq = db.commit({1: b"x"})
    with pytest.raises(libcommit.InvalidArgumentError) as info:
        db.wait_durable(seq + 10, 0.1)  # not handed out yet
    assert str(info.value).startswith("wait_durable:")
    with pytest.raises(ValueError):
        db.wait_durable(-1)
    with pytest.raises(ValueError):
        db.wait_durable(seq, -0.5)
    with pytest.raises(ValueError):
        db.wait_durable(seq, float("nan"))
    with pytest.raises(TypeError):
        db.wait_durable(seq, "1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        db.wait_durable("1")  # type: ignore[arg-type]
    assert db.wait_durable(seq, timeout=1) is True
    db.close()
    with pytest.raises(libcommit.ClosedError):
        db.wait_durable(seq)
    with pytest.raises(libcommit.ClosedError):
        db.durable_seq()
    with pytest.raises(libcommit.ClosedError):
        db.metrics()


def test_transaction_set_sync_overrides_the_database(path):
    with libcommit.open(path, sync="normal") as db:
        db.commit({1: b"relaxed"})
        assert db.durable_seq() == 0, "NORMAL does not sync per commit"
        txn = db.begin()
        txn.write(2, b"strict")
        with pytest.raises(ValueError):
            txn.set_sync("sometimes")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            txn.set_sync(None)  # type: ignore[arg-type]
        txn.set_sync("off")
        txn.set_sync("full")  # the last call wins
        seq = txn.commit()
        assert db.durable_seq() >= seq, "a FULL commit returns durable"
        with pytest.raises(libcommit.ClosedError):
            txn.set_sync("full")
        # A NORMAL ticket in a NORMAL database: waiting starts the flush.
        seq = db.commit({3: b"later"})
        assert db.wait_durable(seq, WAIT) is True
        assert db.durable_seq() >= seq
        with db.begin() as t:
            t.set_sync("normal")
            t.write(4, b"in a with block")
        assert db.read(4) == b"in a with block"


def test_watermark_from_threads(path):
    threads, per_thread = 6, 20
    errors: list[BaseException] = []
    done = threading.Event()
    seen: list[int] = []

    with libcommit.open(path) as db:

        def committer(index: int) -> None:
            try:
                for i in range(per_thread):
                    pgno = 1 + index * per_thread + i
                    seq = db.commit({pgno: page(pgno)}, sync="normal")
                    assert db.wait_durable(seq, WAIT), seq
                    assert db.durable_seq() >= seq
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        def watcher() -> None:
            # Runs while the committers wait: their waits release the GIL.
            try:
                while not done.is_set():
                    seen.append(db.durable_seq())
                    time.sleep(0.001)
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        watch = threading.Thread(target=watcher)
        watch.start()
        workers = [threading.Thread(target=committer, args=(i,)) for i in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join(timeout=300)
        done.set()
        watch.join(timeout=60)
        assert not errors, errors
        total = threads * per_thread
        assert db.durable_seq() == total
        assert db.stats()["last_commit_seq"] == total
        assert seen and seen == sorted(seen), "the watermark never goes back"
        for pgno in (1, total // 2, total):
            assert db.read(pgno) == page(pgno)


# --- metrics --------------------------------------------------------------------


def test_metrics(db):
    for i in range(1, 11):
        db.commit({i: b"x"})
    m = db.metrics()
    for name in ("commit_latency_us", "group_size", "flush_us"):
        h = m[name]
        assert isinstance(h["buckets"], list) and len(h["buckets"]) == 40
        assert h["count"] == sum(h["buckets"])
    assert m["commit_latency_us"]["count"] == 10
    assert m["commit_latency_us"]["sum"] > 0
    assert m["group_size"]["sum"] == 10, "every commit made durable by some flush"
    assert m["oldest_reader_snapshot"] is None
    reader = db.begin()
    for i in range(1, 4):
        db.commit({i: b"y"})
    m = db.metrics()
    assert m["oldest_reader_snapshot"] == 10
    assert m["oldest_reader_age_commits"] == 3
    assert m["oldest_reader_pinned_versions"] == 3
    assert m["commit_latency_us"]["count"] == 13
    reader.abort()
    assert db.metrics()["oldest_reader_snapshot"] is None
    json.dumps(m)  # plain data


# --- per-segment recovery report ------------------------------------------------


def last_nonzero(data: bytes) -> int:
    return len(data.rstrip(b"\0")) - 1


def tear_tail(path: str, nbytes: int = 60) -> str:
    """Zeroes the last `nbytes` bytes of data of the segment holding the most
    data, as a crash in the middle of a write leaves it."""
    best, best_end = "", -1
    for segment in segments(path):
        with open(segment, "rb") as f:
            end = last_nonzero(f.read())
        if end > best_end:
            best, best_end = segment, end
    assert best_end > 4096 + nbytes, "no segment with frames"
    with open(best, "r+b") as f:
        f.seek(best_end - nbytes)
        f.write(b"\0" * (nbytes + 1))
        f.flush()
        os.fsync(f.fileno())
    return best


def check_segment_types(report: libcommit.RecoveryReport, path: str) -> None:
    assert isinstance(report.segments, list) and report.segments
    for s in report.segments:
        assert isinstance(s, libcommit.SegmentReport)
        assert s.path.startswith(path + "-wal-seg-")
        assert s.path.endswith("%016x" % s.first_epoch)
        assert s.epoch_min <= s.epoch_max
        assert s.frames_kept >= 0 and s.frames_dropped >= 0
        assert s.reason is None or isinstance(s.reason, str)
        assert repr(s).startswith("SegmentReport(path=")


def test_segments_after_a_torn_tail(path):
    commit_and_exit(path, 20)
    torn = tear_tail(path)
    with libcommit.open(path) as db:
        report = db.last_recovery
        assert report.last_commit_seq == 19, "the torn last commit is cut"
        assert report.partial_segments == [], "a torn tail is not corruption"
        check_segment_types(report, path)
        reasons = {s.path: s.reason for s in report.segments}
        assert reasons[torn] == "torn tail"
        assert [r for r in reasons.values() if r is not None] == ["torn tail"]
        by_path = {s.path: s for s in report.segments}
        assert by_path[torn].frames_dropped >= 1
        assert sum(s.frames_kept for s in report.segments) >= 19 * 2
        assert db.read(19) == page(19)
        assert db.read(20) is None
        assert db.commit({20: b"again"}) == 20


def test_segments_after_skip_corrupt_recovery(path):
    commit_and_exit(path, 40)
    bad = corrupt_page(path, 20)
    # Read-only inspection sees the damage before anything is changed.
    described = libcommit.info(path)
    assert described["corruption"]
    dry = {s["path"]: s["reason"] for s in described["recovery"]["segments"]}
    assert dry[bad] is not None and dry[bad].startswith("checksum: ")

    report = libcommit.recover(path, skip_corrupt=True)
    check_segment_types(report, path)
    by_path = {s.path: s for s in report.segments}
    damaged = by_path[bad]
    assert damaged.reason is not None and damaged.reason.startswith("checksum: ")
    assert len(damaged.reason) > len("checksum: ")
    for s in report.segments:
        if s.path != bad and s.first_epoch > damaged.first_epoch:
            assert s.reason == "after corruption"
    assert bad in report.partial_segments
    assert 1 <= report.last_commit_seq < 20
    assert "segments=[" in repr(report)
    with libcommit.open(path) as db:
        assert db.stats()["last_commit_seq"] == report.last_commit_seq


def test_segments_of_a_new_database(db):
    assert db.last_recovery.segments == []


# --- info and verify --------------------------------------------------------------


def populate(path: str) -> None:
    """30 commits checkpointed into the main file, 30 more in the log."""
    with libcommit.open(path) as db:
        for i in range(1, 31):
            db.commit({i: page(i)})
        db.checkpoint()
        for i in range(31, 61):
            db.commit({i: page(i)})


def test_info_and_verify_on_a_healthy_database(tmp_path):
    path = str(tmp_path / "healthy.db")
    populate(path)
    described = libcommit.info(tmp_path / "healthy.db")  # PathLike works
    assert described["path"] == path
    assert described["page_size"] == 4096
    assert described["checkpoint_seq"] >= 30
    assert described["last_commit_seq"] == 60
    assert described["corruption"] is None
    assert all(s["path"].startswith(path + "-wal-seg-") for s in described["segments"])
    assert described["recovery"]["partial_segments"] == []
    json.dumps(described)
    checked = libcommit.verify(path)
    assert checked["clean"] is True
    assert checked["bad"] == []
    assert checked["torn_tail"] is False
    assert checked["units_checked"] >= 60
    json.dumps(checked)


def test_verify_progress(tmp_path):
    path = str(tmp_path / "progress.db")
    populate(path)
    calls: list[tuple[int, int]] = []
    checked = libcommit.verify(path, progress=lambda done, total: calls.append((done, total)))
    assert checked["clean"] is True
    assert calls, "progress was never called"
    done, total = calls[-1]
    assert done == total and total >= 60
    assert libcommit.verify(path, progress=None)["clean"] is True

    def fail(done: int, total: int) -> None:
        raise KeyError("stop")

    with pytest.raises(KeyError):
        libcommit.verify(path, progress=fail)


def test_verify_names_a_flipped_byte_in_a_checkpointed_page(tmp_path):
    path = str(tmp_path / "flip.db")
    populate(path)
    with open(path, "r+b") as f:  # slots start after the two 4 KiB headers
        f.seek(8192 + 100)
        byte = f.read(1)
        f.seek(8192 + 100)
        f.write(bytes([byte[0] ^ 1]))
    checked = libcommit.verify(path)
    assert checked["clean"] is False
    assert len(checked["bad"]) == 1
    assert checked["bad"][0]["file"] == path
    assert "checksum" in checked["bad"][0]["what"]


def test_info_and_verify_errors(tmp_path):
    missing = str(tmp_path / "missing.db")
    with pytest.raises(libcommit.Error):
        libcommit.info(missing)
    with pytest.raises(libcommit.Error):
        libcommit.verify(missing)
    not_db = tmp_path / "not.db"
    not_db.write_bytes(b"plain text, not a database" * 200)
    before = not_db.read_bytes()
    with pytest.raises(libcommit.CorruptError) as info:
        libcommit.info(str(not_db))
    assert str(info.value).startswith("info:")
    assert not_db.read_bytes() == before
    with pytest.raises(TypeError):
        libcommit.verify(42)  # type: ignore[arg-type]


# --- python -m libcommit ------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "libcommit", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_on_a_healthy_database(tmp_path):
    path = str(tmp_path / "cli.db")
    populate(path)
    result = cli("info", path)
    assert result.returncode == 0, result.stderr
    assert "page size:        4096" in result.stdout
    assert "last commit seq:  60" in result.stdout
    assert "corruption:       none" in result.stdout
    result = cli("verify", path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(path + ": clean")
    result = cli("info", path, "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["last_commit_seq"] == 60
    result = cli("verify", "--json", path)
    assert result.returncode == 0
    assert json.loads(result.stdout)["clean"] is True


def test_cli_on_a_torn_tail_is_clean(path):
    commit_and_exit(path, 20)
    torn = tear_tail(path)
    result = cli("verify", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "torn tail" in result.stdout
    result = cli("info", path)
    assert result.returncode == 0
    assert f"{torn}: epochs" in result.stdout and "(torn tail)" in result.stdout


def test_cli_on_a_corrupted_database(path):
    commit_and_exit(path, 40)
    bad = corrupt_page(path, 20)
    result = cli("verify", path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "CORRUPT" in result.stdout
    assert f"    {bad} at offset" in result.stdout, result.stdout
    parsed = json.loads(cli("verify", path, "--json").stdout)
    assert parsed["clean"] is False
    assert bad in [u["file"] for u in parsed["bad"]]
    result = cli("info", path)
    assert result.returncode == 1
    assert "corruption:       none" not in result.stdout
    assert "checksum: " in result.stdout


def test_cli_on_a_non_database_file(tmp_path):
    not_db = tmp_path / "not.db"
    not_db.write_bytes(b"x" * 10000)
    result = cli("verify", str(not_db))
    assert result.returncode == 1
    assert "CORRUPT" in result.stdout and "not a libcommit database" in result.stdout
    result = cli("info", str(not_db))
    assert result.returncode == 1
    assert result.stderr.startswith("info:"), result.stderr


def test_cli_usage_errors(tmp_path):
    assert cli().returncode == 2
    assert cli("dump", str(tmp_path)).returncode == 2
    assert cli("info").returncode == 2
    assert cli("verify", str(tmp_path / "missing.db")).returncode == 2
    result = cli("--help")
    assert result.returncode == 0 and "verify" in result.stdout
