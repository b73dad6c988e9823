"""A process forked with a database open (os.fork).

The handle belongs to the parent: in the child every use of it raises
ClosedError saying so, closing it there only lets go of it, and the child
may open the database itself. The parent's database is unharmed.
"""

from __future__ import annotations

import os
import warnings

import libcommit


def _child(db: libcommit.Database, txn: libcommit.Transaction, path: str) -> int:
    """What the forked child checks; its exit status (0 = all held)."""
    uses = [
        ("read", lambda: db.read(1)),
        ("commit", lambda: db.commit({1: b"child"})),
        ("begin", db.begin),
        ("checkpoint", db.checkpoint),
        ("stats", db.stats),
        ("txn.read", lambda: txn.read(1)),
        ("txn.write", lambda: txn.write(2, b"x")),
    ]
    for status, (name, use) in enumerate(uses, start=10):
        try:
            use()
            return status
        except libcommit.ClosedError as e:
            if "is used in forked child %d" % os.getpid() not in str(e):
                return status + 20
    db.close()
    with libcommit.open(path) as own:
        if own.read(1) != b"parent":
            return 2
        own.commit({2: b"child"})
    return 0


def test_a_forked_child_gets_closed_error_and_the_parent_goes_on(path: str) -> None:
    db = libcommit.open(path)
    db.commit({1: b"parent"})
    txn = db.begin()
    with warnings.catch_warnings():
        # Python warns that forking a process with threads (the engine's)
        # may deadlock; that hazard is what the handle guards against.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _child(db, txn, path)
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert txn.read(1) == b"parent"
    txn.abort()
    assert db.read(2) == b"child"
    db.commit({3: b"after"})
    db.checkpoint()
    assert db.stats()["active_readers"] == 0
    db.close()
