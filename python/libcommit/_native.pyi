"""Type stubs for libcommit._native, the compiled part of libcommit."""

import os
from types import TracebackType
from typing import Any, Callable, Iterable, List, Mapping, Optional, Tuple, Type, Union, final

from typing_extensions import Buffer, Literal, Self, TypeAlias, TypedDict

_Path: TypeAlias = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
_Data: TypeAlias = Union[bytes, bytearray, memoryview, Buffer]
_Writes: TypeAlias = Union[
    Mapping[int, Optional[_Data]], Iterable[Tuple[int, Optional[_Data]]]
]
_Sync: TypeAlias = Literal["full", "normal", "off"]

class _Histogram(TypedDict):
    buckets: List[int]
    sum: int
    count: int

class _Metrics(TypedDict):
    commit_latency_us: _Histogram
    group_size: _Histogram
    flush_us: _Histogram
    oldest_reader_snapshot: Optional[int]
    oldest_reader_age_commits: int
    oldest_reader_pinned_versions: int

class _SegmentDict(TypedDict):
    path: str
    first_epoch: int
    epoch_min: int
    epoch_max: int
    frames_kept: int
    frames_dropped: int
    reason: Optional[str]

class _RecoveryDict(TypedDict):
    segments_recovered: int
    records_applied: int
    commits_recovered: int
    bytes_read: int
    last_commit_seq: int
    partial_segments: List[str]
    segments: List[_SegmentDict]

class _SegmentFile(TypedDict):
    path: str
    first_epoch: int
    log_start: int
    capacity: int
    resume_offset: int
    file_bytes: int

class _Info(TypedDict):
    path: str
    page_size: int
    db_id: int
    generation: int
    checkpoint_seq: int
    last_commit_seq: int
    main_pages: int
    main_file_bytes: int
    segments: List[_SegmentFile]
    capsule_segments: List[_SegmentFile]
    recovery: _RecoveryDict
    corruption: Optional[str]

class _BadUnit(TypedDict):
    file: str
    offset: int
    what: str

class _Verify(TypedDict):
    path: str
    clean: bool
    units_checked: int
    bytes_checked: int
    torn_tail: bool
    bad: List[_BadUnit]

__all__ = [
    "__version__",
    "STATUSES",
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
]

__version__: str
# The engine's statuses: (code, name, text), in numeric order.
STATUSES: List[Tuple[int, str, str]]

def open(
    path: _Path,
    *,
    page_size: int = 4096,
    sync: Literal["full", "normal", "off"] = "full",
    mode: Literal["wal", "native"] = "wal",
    isolation: Literal["snapshot", "serializable"] = "snapshot",
    lanes: int = 0,
    max_flush_delay_us: int = 0,
    busy_timeout_ms: int = 5000,
    read_only: bool = False,
    replica: Optional[str] = None,
    replica_snapshot_interval_ms: int = 3600000,
    replica_retain_snapshots: int = 2,
    replica_retain_window_ms: int = 86400000,
    replica_delete_grace_ms: int = 600000,
) -> Database:
    """Opens (creating if missing, unless read-only) the database at `path`
    and replays its write-ahead log."""

def recover(
    path: _Path, *, skip_corrupt: bool = False, delete_after: bool = False
) -> RecoveryReport:
    """Recovers a closed database offline and reports what it found."""

def restore(
    url: str, path: _Path, *, seq: Optional[int] = None, time: Optional[float] = None
) -> int:
    """Restores a replica into a new database; returns the restored commit_seq."""

def follow(
    url: str,
    path: _Path,
    *,
    poll_ms: int = 100,
    resnapshot: bool = False,
    sync: Literal["full", "normal", "off"] = "full",
    mode: Literal["wal", "native"] = "wal",
    isolation: Literal["snapshot", "serializable"] = "snapshot",
    lanes: int = 0,
    max_flush_delay_us: int = 0,
    busy_timeout_ms: int = 5000,
    replica_snapshot_interval_ms: int = 3600000,
    replica_retain_snapshots: int = 2,
    replica_retain_window_ms: int = 86400000,
    replica_delete_grace_ms: int = 600000,
) -> Database:
    """Opens the database at `path` as a read replica of the replica at `url`
    (restored first when `path` does not exist, resumed when it does): it
    applies the replica's new commits as they appear, looking every `poll_ms`
    milliseconds, and its own commits raise ReadOnlyError until promote(). A
    database the replica does not continue (a fork) raises FencedError, or
    with `resnapshot` is replaced by a fresh restore."""

def info(path: _Path) -> _Info:
    """Describes the database at `path` from its files (read-only)."""

def verify(
    path: _Path, *, progress: Optional[Callable[[int, int], object]] = None
) -> _Verify:
    """Checks every checksum of the database at `path` (read-only);
    `progress(done, total)` is called as it goes."""

@final
class Database:
    """An open database; a context manager that closes on exit. It belongs to
    the process that opened it: in a child made by os.fork() every use
    raises ClosedError (open the database again in the child)."""

    @property
    def path(self) -> str:
        """The path the database was opened with."""
    @property
    def page_size(self) -> int:
        """The page size in bytes."""
    @property
    def closed(self) -> bool:
        """True once close() was called."""
    @property
    def last_recovery(self) -> RecoveryReport:
        """What recovery replayed when the database was opened."""
    @property
    def sync(self) -> _Sync:
        """The durability mode the database was opened with."""
    def begin(self) -> Transaction:
        """Starts a transaction reading at the latest commit."""
    def commit(self, writes: _Writes, *, sync: Optional[_Sync] = None) -> int:
        """Atomically applies page writes (None deletes); returns the commit_seq.
        `sync` overrides the database's durability mode for this commit."""
    def durable_seq(self) -> int:
        """The durable watermark: every commit <= it is on stable storage."""
    def wait_durable(self, seq: int, timeout: Optional[float] = None) -> bool:
        """Waits until commit `seq` is durable; False if `timeout` passed first."""
    def replica_status(self) -> dict[str, Any]:
        """The replica's state, epoch, shipped seq, lag and last error; for a
        follower also applied_seq, behind_commits, behind_ms and apply_lag_ms."""
    def wait_replicated(self, seq: int, timeout: Optional[float] = None) -> bool:
        """Waits until commit `seq` is in the replica; False if `timeout` passed first."""
    def promote(self) -> int:
        """Makes this read replica (see follow()) the writer: applies what the
        replica holds, takes it with a new epoch (fencing the old writer) and
        ships its own commits from then on. Returns the new epoch."""
    async def commit_async(self, writes: _Writes, *, sync: Optional[_Sync] = None) -> int:
        """commit() for asyncio: written by a worker thread, durability awaited
        on the loop (syncs shared). Cancelling stops the wait, never the commit."""
    async def wait_durable_async(self, seq: int, timeout: Optional[float] = None) -> bool:
        """wait_durable() for asyncio, without a thread per waiter."""
    def metrics(self) -> _Metrics:
        """Latency, group-size and flush histograms; the oldest reader's lag."""
    def read(self, pgno: int) -> Optional[bytes]:
        """The latest committed image of page `pgno`, or None."""
    def checkpoint(self) -> CheckpointReport:
        """Copies committed pages into the main file."""
    def stats(self) -> dict[str, int]:
        """Counters and watermarks by the lc_stats field names."""
    def close(self) -> None:
        """Closes the database; closing twice is harmless."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> bool: ...

@final
class Transaction:
    """A snapshot plus a write set; a context manager that commits on normal
    exit and aborts on an exception."""

    @property
    def snapshot(self) -> int:
        """The commit_seq this transaction reads at."""
    def read(self, pgno: int) -> Optional[bytes]:
        """Page `pgno` as this transaction sees it, or None."""
    def write(self, pgno: int, data: _Data) -> None:
        """Sets page `pgno` to `data` at commit."""
    def delete(self, pgno: int) -> None:
        """Deletes page `pgno` at commit."""
    def set_sync(self, mode: _Sync) -> None:
        """Sets this transaction's durability mode, overriding the database's."""
    @property
    def sync(self) -> _Sync:
        """What this transaction's commit waits for."""
    def commit(self) -> int:
        """Validates and commits; returns the commit_seq."""
    async def commit_async(self) -> int:
        """commit() for asyncio; the transaction is finished once it started,
        also when the awaiting task is cancelled."""
    def abort(self) -> None:
        """Discards the transaction; harmless when already finished."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc_value: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> bool: ...

@final
class RecoveryReport:
    """What recovery did."""

    @property
    def segments_recovered(self) -> int: ...
    @property
    def records_applied(self) -> int: ...
    @property
    def commits_recovered(self) -> int: ...
    @property
    def bytes_read(self) -> int: ...
    @property
    def last_commit_seq(self) -> int: ...
    @property
    def partial_segments(self) -> list[str]: ...
    @property
    def segments(self) -> list[SegmentReport]: ...

@final
class SegmentReport:
    """What recovery found in one WAL segment."""

    @property
    def path(self) -> str: ...
    @property
    def first_epoch(self) -> int: ...
    @property
    def epoch_min(self) -> int: ...
    @property
    def epoch_max(self) -> int: ...
    @property
    def frames_kept(self) -> int: ...
    @property
    def frames_dropped(self) -> int: ...
    @property
    def reason(self) -> Optional[str]: ...

@final
class CheckpointReport:
    """What a checkpoint did."""

    @property
    def pages_written(self) -> int: ...
    @property
    def segments_removed(self) -> int: ...
    @property
    def checkpoint_seq(self) -> int: ...
