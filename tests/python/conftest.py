"""Shared fixtures and helpers for the libcommit Python tests."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import textwrap
from typing import Iterator

import pytest

import libcommit


# Lines a test prints starting with this are shown after the run (pytest
# captures a passing test's output), so `make test` prints what the
# multi-process tests counted.
COUNTS_PREFIX = "COUNTS "


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    lines = [
        line[len(COUNTS_PREFIX) :]
        for report in terminalreporter.stats.get("passed", [])
        for line in report.capstdout.splitlines()
        if line.startswith(COUNTS_PREFIX)
    ]
    if lines:
        terminalreporter.section("counts")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def path(tmp_path) -> str:
    """A database path in a fresh directory (the database does not exist)."""
    return str(tmp_path / "test.db")


@pytest.fixture
def db(path: str) -> Iterator[libcommit.Database]:
    """A fresh open database, closed after the test."""
    database = libcommit.open(path)
    yield database
    database.close()


def segments(path: str) -> list[str]:
    """The database's WAL segment files, in log order."""
    return sorted(
        p for p in glob.glob(glob.escape(path) + "-wal-seg-*") if not p.endswith(".corrupt")
    )


def page(i: int, size: int = 4096) -> bytes:
    """A recognisable page image for commit i: a marker repeated to `size`."""
    marker = b"LCPY-%08d-" % i
    return (marker * (size // len(marker) + 1))[:size]


def run_python(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Runs `code` in a child interpreter (the same venv) and checks it exits 0."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    return result


# A child that commits n commits and exits without closing the database, so
# the WAL segments stay as they are on disk. Commit i writes the pages
# (i-1)*per_commit+1 ..= i*per_commit, each with the image page(pgno).
COMMIT_AND_EXIT = """
import os, sys
import libcommit
path, n, sync, per_commit = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def page(i, size=4096):
    marker = b"LCPY-%08d-" % i
    return (marker * (size // len(marker) + 1))[:size]
db = libcommit.open(path, sync=sync)
for i in range(1, n + 1):
    first = (i - 1) * per_commit + 1
    seq = db.commit({p: page(p) for p in range(first, first + per_commit)})
    assert seq == i, (seq, i)
sys.stdout.flush()
os._exit(0)
"""


def commit_and_exit(path: str, n: int, sync: str = "full", per_commit: int = 1) -> None:
    """Makes n commits in a child process that exits without close()."""
    run_python(COMMIT_AND_EXIT, path, str(n), sync, str(per_commit))


def corrupt_page(path: str, pgno: int) -> str:
    """Flips a byte in the middle of page pgno's image in its WAL segment."""
    marker = b"LCPY-%08d-" % pgno
    for segment in segments(path):
        with open(segment, "r+b") as f:
            data = f.read()
            at = data.find(marker * 4)
            if at < 0:
                continue
            at += 2048
            f.seek(at)
            f.write(bytes([data[at] ^ 0xFF]))
            f.flush()
            os.fsync(f.fileno())
            return segment
    raise AssertionError(f"page {pgno} not found in any segment")


def remove_database(path: str) -> None:
    for p in glob.glob(glob.escape(path) + "*"):
        os.remove(p)
