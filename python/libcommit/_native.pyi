"""Type stubs for libcommit._native, the compiled part of libcommit."""

import os
from types import TracebackType
from typing import Iterable, Mapping, Optional, Tuple, Type, Union, final

from typing_extensions import Buffer, Literal, Self, TypeAlias

_Path: TypeAlias = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
_Data: TypeAlias = Union[bytes, bytearray, memoryview, Buffer]
_Writes: TypeAlias = Union[
    Mapping[int, Optional[_Data]], Iterable[Tuple[int, Optional[_Data]]]
]

__all__ = [
    "__version__",
    "open",
    "recover",
    "Database",
    "Transaction",
    "RecoveryReport",
    "CheckpointReport",
]

__version__: str

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
) -> Database:
    """Opens (creating if missing, unless read-only) the database at `path`
    and replays its write-ahead log."""

def recover(
    path: _Path, *, skip_corrupt: bool = False, delete_after: bool = False
) -> RecoveryReport:
    """Recovers a closed database offline and reports what it found."""

@final
class Database:
    """An open database; a context manager that closes on exit."""

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
    def begin(self) -> Transaction:
        """Starts a transaction reading at the latest commit."""
    def commit(self, writes: _Writes) -> int:
        """Atomically applies page writes (None deletes); returns the commit_seq."""
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
    def commit(self) -> int:
        """Validates and commits; returns the commit_seq."""
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

@final
class CheckpointReport:
    """What a checkpoint did."""

    @property
    def pages_written(self) -> int: ...
    @property
    def segments_removed(self) -> int: ...
    @property
    def checkpoint_seq(self) -> int: ...
