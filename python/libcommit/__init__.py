"""libcommit: the commit layer of a database, as a library.

Open a database (a file path), commit page writes atomically and durably,
read pages at MVCC snapshots, and recover the write-ahead log after a crash::

    import libcommit

    with libcommit.open("/tmp/example.db") as db:
        seq = db.commit({1: b"hello", 2: b"world"})
        with db.begin() as txn:          # commits on normal exit
            txn.write(3, txn.read(1) + b"!")
        assert db.read(3) == b"hello!"

Blocking calls release the GIL, so threads sharing one Database commit
together (group commit). Processes each open the database themselves; a
Database belongs to the process that opened it, so in a child made by
``os.fork()`` its methods raise ClosedError: open it again in the child.

asyncio: ``await db.commit_async(writes)``, ``await txn.commit_async()`` and
``await db.wait_durable_async(seq)`` never block the event loop; concurrent
tasks share syncs, and cancelling a task stops its wait, never its commit
(see ``libcommit._aio``).

Replication: ``libcommit.open(path, replica=url)`` ships every durable
commit to a replica (``db.replica_status()``, ``db.wait_replicated(seq)``);
``libcommit.restore(url, path)`` restores one; ``libcommit.follow(url, path)``
opens a read replica that applies the replica's new commits as they appear
(its own commits raise ReadOnlyError) until ``db.promote()`` makes it the
writer, fencing the old one (FencedError).

Operators: ``db.durable_seq()`` / ``db.wait_durable(seq)`` (commit tickets
from ``db.commit(writes, sync="normal")``), ``db.metrics()``,
``db.last_recovery.segments``, and ``libcommit.info(path)`` /
``libcommit.verify(path)``, also as ``python -m libcommit info|verify PATH``.
"""

from ._errors import (
    BusyError,
    ClosedError,
    ConflictError,
    CorruptError,
    Error,
    FencedError,
    InvalidArgumentError,
    ReadOnlyError,
    Status,
    StorageError,
)
from ._native import (
    CheckpointReport,
    Database,
    RecoveryReport,
    SegmentReport,
    Transaction,
    __version__,
    follow,
    info,
    open,
    recover,
    restore,
    verify,
)

# Show the exceptions as libcommit.X in tracebacks and reprs.
for _cls in (
    Error,
    ConflictError,
    BusyError,
    CorruptError,
    StorageError,
    ClosedError,
    ReadOnlyError,
    InvalidArgumentError,
    FencedError,
    Status,
):
    _cls.__module__ = __name__
del _cls

__all__ = [
    "__version__",
    "open",
    "recover",
    "restore",
    "follow",
    "info",
    "verify",
    "Database",
    "Transaction",
    "RecoveryReport",
    "SegmentReport",
    "CheckpointReport",
    "Status",
    "Error",
    "ConflictError",
    "BusyError",
    "CorruptError",
    "StorageError",
    "ClosedError",
    "ReadOnlyError",
    "InvalidArgumentError",
    "FencedError",
]
