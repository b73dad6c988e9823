"""A C program and a Python process commit to one database at once.

tests/c/mp_writer.c is compiled against include/libcommit.h and the C
library, and run beside a Python child speaking the same line protocol:
each opens the database, prints "ready", waits for "go" (so both have the
database open before either commits), then prints "seq S n" after every
acknowledged commit. Both write their own pages and one shared page; the
parent then checks that the commit_seqs of the two programs interleave into
one dense sequence and that the database holds what replaying the
acknowledged commits in commit_seq order gives.

The C library comes from $LIBCOMMIT_C_LIB_DIR when set (mk/python.mk sets
it to build/lib, built just before, so under `make test` a missing library
or compiler is a failure); otherwise from build/lib, and the test is
skipped, loudly, when that or a C compiler is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import IO

import pytest

import libcommit

REPO = Path(__file__).resolve().parents[2]
COMMITS = 40
PAGES = 6
C_FIRST, PY_FIRST = 1, 1001
SHARED_PGNO = 50_000
BUSY_TIMEOUT_MS = 10_000
TIMEOUT_S = 120.0
# Keep in step with MP_IMAGE_LEN in tests/c/mp_writer.c.
IMAGE_LEN = 300


def image(tag: str, n: int, pgno: int) -> bytes:
    """The image mp_writer.c writes: "TAG n pgno|" repeated to IMAGE_LEN."""
    unit = b"%s %d %d|" % (tag.encode(), n, pgno)
    return (unit * (IMAGE_LEN // len(unit) + 1))[:IMAGE_LEN]


# The Python writer: mp_writer.c's protocol and payloads, tag "P".
PY_WRITER = textwrap.dedent(
    """
    import sys
    import libcommit
    path, first, npages, commits, shared, busy = sys.argv[1], *map(int, sys.argv[2:7])
    def image(tag, n, pgno):
        unit = b"%s %d %d|" % (tag.encode(), n, pgno)
        return (unit * (IMAGE_LEN // len(unit) + 1))[:IMAGE_LEN]
    with libcommit.open(path, busy_timeout_ms=busy) as db:
        print("ready", flush=True)
        if sys.stdin.readline() != "go\\n":
            sys.exit("expected go")
        for n in range(1, commits + 1):
            pages = [*range(first, first + npages), shared]
            seq = db.commit({p: image("P", n, p) for p in pages})
            print("seq", seq, n, flush=True)
        stats = db.stats()
        print("stats", stats["commits"], stats["last_commit_seq"], flush=True)
    """
).replace("IMAGE_LEN", str(IMAGE_LEN))


def c_writer_binary(tmp_path: Path) -> Path:
    """Compiles tests/c/mp_writer.c; skips (standalone) or fails (under
    make test, i.e. with LIBCOMMIT_C_LIB_DIR set) without a library or cc."""
    lib_dir_env = os.environ.get("LIBCOMMIT_C_LIB_DIR")
    lib_dir = Path(lib_dir_env) if lib_dir_env else REPO / "build" / "lib"
    cc = os.environ.get("CC", "cc")
    missing = []
    if not (lib_dir / "libcommit.so").exists():
        missing.append(f"{lib_dir}/libcommit.so (make c-lib builds it)")
    if shutil.which(cc) is None:
        missing.append(f"a C compiler ({cc})")
    if missing:
        why = "C+Python mix test needs " + " and ".join(missing)
        if lib_dir_env:
            pytest.fail(why + "; LIBCOMMIT_C_LIB_DIR is set, so this is not skipped")
        print(f"\nSKIPPING: {why}", file=sys.stderr, flush=True)
        pytest.skip(why)
    binary = tmp_path / "mp_writer"
    build = subprocess.run(
        [
            cc,
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            f"-I{REPO / 'include'}",
            str(REPO / "tests" / "c" / "mp_writer.c"),
            f"-L{lib_dir}",
            "-lcommit",
            f"-Wl,-rpath,{lib_dir}",
            "-o",
            str(binary),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    return binary


def start_writer(argv: list[str]) -> subprocess.Popen[str]:
    """Starts a writer and waits until it has the database open."""
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line != "ready\n":
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"{argv[0]} did not get ready: {line!r}, stderr:\n{err}")
    return proc


def finish_writer(name: str, proc: subprocess.Popen[str]) -> tuple[list[tuple[int, int]], str]:
    """Waits for a writer to exit 0; returns its acknowledged (seq, n) and
    its stats line."""
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{err}\nstdout:\n{out}"
    acked = []
    stats = ""
    for line in out.splitlines():
        word, *rest = line.split()
        if word == "seq":
            acked.append((int(rest[0]), int(rest[1])))
        elif word == "stats":
            stats = line
    return acked, stats


def go(stdin: IO[str] | None) -> None:
    assert stdin is not None
    stdin.write("go\n")
    stdin.flush()


def test_c_and_python_processes_commit_to_one_database(tmp_path: Path) -> None:
    binary = c_writer_binary(tmp_path)
    path = str(tmp_path / "mix.db")
    common = [str(PAGES), str(COMMITS), str(SHARED_PGNO), str(BUSY_TIMEOUT_MS)]
    c_proc = start_writer([str(binary), path, str(C_FIRST), *common])
    try:
        py_proc = start_writer([sys.executable, "-c", PY_WRITER, path, str(PY_FIRST), *common])
    except BaseException:
        c_proc.kill()
        c_proc.communicate()
        raise
    go(c_proc.stdin)
    go(py_proc.stdin)
    c_acked, c_stats = finish_writer("mp_writer (C)", c_proc)
    py_acked, py_stats = finish_writer("Python writer", py_proc)

    for name, acked, stats in (("C", c_acked, c_stats), ("Python", py_acked, py_stats)):
        assert [n for _, n in acked] == list(range(1, COMMITS + 1)), name
        seqs = [seq for seq, _ in acked]
        assert seqs == sorted(set(seqs)), f"{name}: seqs not increasing: {seqs}"
        commits, last_seq = map(int, stats.split()[1:])
        assert commits == COMMITS, (name, stats)
        assert last_seq >= seqs[-1], (name, stats)

    history = sorted([(seq, "C", n) for seq, n in c_acked] + [(seq, "P", n) for seq, n in py_acked])
    seqs = [seq for seq, _, _ in history]
    total = 2 * COMMITS
    assert seqs == list(range(1, total + 1)), f"commit_seqs not dense and distinct: {seqs}"
    last_seq, last_tag, last_n = history[-1]

    with libcommit.open(path) as db:
        assert db.stats()["last_commit_seq"] == total
        for tag, first in (("C", C_FIRST), ("P", PY_FIRST)):
            for pgno in range(first, first + PAGES):
                assert db.read(pgno) == image(tag, COMMITS, pgno), (tag, pgno)
        # Blind writes: the shared page holds the highest commit_seq's image.
        assert db.read(SHARED_PGNO) == image(last_tag, last_n, SHARED_PGNO), (
            db.read(SHARED_PGNO)[:20],
            history[-1],
        )
    switches = sum(1 for a, b in zip(history, history[1:]) if a[1] != b[1])
    print(
        f"COUNTS mix C+Python: {total} acknowledged commits ({COMMITS} C, {COMMITS} Python), "
        f"seqs 1..{total} dense, writer switched {switches} times",
        flush=True,
    )
