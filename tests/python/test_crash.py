"""A child process killed with SIGKILL while committing loses no
acknowledged commit and leaves no partial commit."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import time
import zlib

import pytest

import libcommit

PAGES_PER_COMMIT = 3

# Commit n writes pages 3n+1..3n+3, each image naming n and carrying its own
# CRC. After commit() returns, the child prints "seq n" and flushes.
CHILD = textwrap.dedent(
    """
    import sys, zlib
    import libcommit
    path, first, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    def image(n, k):
        body = (b"commit %d part %d " % (n, k)) * 40
        return zlib.crc32(body).to_bytes(4, "little") + body
    db = libcommit.open(path, mode=mode)
    n = first
    while True:
        seq = db.commit({3 * n + k + 1: image(n, k) for k in range(3)})
        sys.stdout.write("%d %d\\n" % (seq, n))
        sys.stdout.flush()
        n += 1
    """
)


def image(n: int, k: int) -> bytes:
    body = (b"commit %d part %d " % (n, k)) * 40
    return zlib.crc32(body).to_bytes(4, "little") + body


@pytest.mark.parametrize("mode", ["wal", "native"])
def test_sigkill_loses_no_acknowledged_commit(path, mode):
    rng = random.Random(0xC0FFEE)
    first = 0
    last_seq = 0
    for _ in range(3):
        acked = run_round(path, first, mode, rng)
        assert acked, "the child acknowledged no commit"
        seqs = [seq for seq, _ in acked]
        assert seqs == list(range(last_seq + 1, last_seq + 1 + len(seqs))), "seqs not dense"
        with libcommit.open(path, mode=mode) as db:
            recovered = db.stats()["last_commit_seq"]
            # Every acknowledged commit survived; at most the in-flight ones
            # beyond it may have landed too.
            assert recovered >= seqs[-1]
            assert db.last_recovery.last_commit_seq >= seqs[-1]
            for seq, n in acked:
                for k in range(PAGES_PER_COMMIT):
                    assert db.read(PAGES_PER_COMMIT * n + k + 1) == image(n, k), (seq, n, k)
            # Commits past the acknowledged ones are whole or absent.
            extra = recovered - seqs[-1]
            n_next = acked[-1][1] + 1
            for n in range(n_next, n_next + extra + 3):
                parts = [db.read(PAGES_PER_COMMIT * n + k + 1) for k in range(PAGES_PER_COMMIT)]
                if n < n_next + extra:
                    assert parts == [image(n, k) for k in range(PAGES_PER_COMMIT)]
                else:
                    assert parts == [None] * PAGES_PER_COMMIT
            last_seq = recovered
            first = n_next + extra


def run_round(path: str, first: int, mode: str, rng: random.Random) -> list[tuple[int, int]]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, path, str(first), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None
    lines: list[bytes] = []
    try:
        for _ in range(rng.randint(5, 60)):
            line = child.stdout.readline()
            if not line:
                break
            lines.append(line)
        time.sleep(rng.uniform(0.0, 0.1))
    finally:
        child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    # Read the rest through the same buffered reader: communicate() would
    # read the raw pipe and lose what readline() had buffered already.
    rest = child.stdout.read()
    err = child.stderr.read() if child.stderr is not None else b""
    assert child.returncode == -signal.SIGKILL, err.decode()
    lines.extend(rest.splitlines(keepends=True))
    acked = []
    for line in lines:
        if line.endswith(b"\n"):  # a torn last line was not acknowledged
            seq, n = line.split()
            acked.append((int(seq), int(n)))
    return acked
