"""The libcommit exception tree.

Every exception raised for an engine failure derives from :class:`Error`
and carries the engine's status code in ``.status`` (the numbers of the C
``lc_status`` enum, also available as :class:`Status`). Messages read
"<operation>: <reason>".
"""

from __future__ import annotations

import enum
from typing import Iterable, Optional

__all__ = [
    "Status",
    "Error",
    "ConflictError",
    "BusyError",
    "CorruptError",
    "StorageError",
    "ClosedError",
    "ReadOnlyError",
    "FencedError",
    "InvalidArgumentError",
]


class Status(enum.IntEnum):
    """The engine's status codes (identical to the C ``lc_status`` values)."""

    OK = 0
    NOT_FOUND = 1
    CONFLICT = 2
    BUSY = 3
    CORRUPT = 4
    IO = 5
    INVALID_ARGUMENT = 6
    BUFFER_TOO_SMALL = 7
    CLOSED = 8
    READ_ONLY = 9
    FULL = 10
    INTERNAL = 11
    FENCED = 12


class Error(Exception):
    """Base class of every libcommit error; ``.status`` is its status code."""

    status: int = Status.INTERNAL

    def __init__(self, message: str = "", *, status: Optional[int] = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = Status(status)


class ConflictError(Error):
    """A commit lost first-committer-wins validation: another transaction
    committed one of its pages after its snapshot. ``.pages`` lists the
    conflicting pages, ``.commit_seq`` is the newest conflicting commit.
    Nothing was written; retry with a new transaction."""

    status: int = Status.CONFLICT

    def __init__(
        self,
        message: str = "",
        *,
        pages: Iterable[int] = (),
        commit_seq: int = 0,
        status: Optional[int] = None,
    ) -> None:
        super().__init__(message, status=status)
        self.pages: list[int] = list(pages)
        self.commit_seq: int = commit_seq


class BusyError(Error):
    """Another process held what the call needed for longer than
    ``busy_timeout_ms``."""

    status: int = Status.BUSY


class CorruptError(Error):
    """A checksum or format check failed (a bad record followed by valid
    data, or a file that is not a database). See ``recover(skip_corrupt=True)``."""

    status: int = Status.CORRUPT


class StorageError(Error):
    """An I/O error (status IO; after a failed write or sync the database
    refuses writes until reopened) or a full disk (status FULL; nothing
    partial was written)."""

    status: int = Status.IO


class ClosedError(Error):
    """The database was closed, or the transaction already committed,
    aborted, or invalidated by its database's close."""

    status: int = Status.CLOSED


class ReadOnlyError(Error):
    """A write on a database opened with ``read_only=True``."""

    status: int = Status.READ_ONLY


class InvalidArgumentError(Error, ValueError):
    """A bad argument value (page 0 or out of range, an image larger than
    the page size, an unknown option value). Also a ``ValueError``."""

    status: int = Status.INVALID_ARGUMENT


class FencedError(Error):
    """Another writer took this database's replica with a newer epoch: the
    database refuses commits (reads go on)."""

    status: int = Status.FENCED
