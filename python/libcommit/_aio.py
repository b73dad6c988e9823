"""asyncio support: the coroutines that ``Database.commit_async``,
``Transaction.commit_async`` and ``Database.wait_durable_async`` return.

How a commit flows. The call copies the writes; when its coroutine starts,
it queues the commit and awaits a future, which is all the event loop does.
A few writer threads per database (started on demand, gone when idle)
write queued commits with sync relaxed to "normal", which returns once the
commit is in the log. A commit that must be durable then waits with the
database's one durability thread: it waits on the engine for the highest
commit anyone awaits and, after each sync, settles every future at or
below the durable watermark with one callback into each loop. So a
thousand tasks committing at once hold a handful of threads, none of them
per waiter, and share syncs: one group flush covers every commit written
before it. Those threads run detached from the interpreter and take the
GIL once per batch of results, so the loop's thread keeps it.

Cancellation never un-commits anything. Once the coroutine of
``commit_async`` has started (its task ran up to its first await), the
commit goes through exactly as if the task had kept waiting: cancelling it,
or a timeout around it, only stops the task from waiting and from learning
the sequence number. Such a commit becomes durable with the engine's next
group flush (under sync "full" one starts as soon as it is written). Queued
commits run on several writers, so their order among themselves (and with
commits made later) is not the order of the calls. A coroutine that never
starts commits nothing.
``Transaction.commit_async`` finishes the transaction when called.
Cancelling ``wait_durable_async`` affects nothing but the waiting task.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any, List, Optional, Tuple

__all__: List[str] = []

# Every database's asyncio state, told at exit to end its idle threads.
_states: "weakref.WeakSet[Any]" = weakref.WeakSet()
_states_lock = threading.Lock()


def _track(state: Any) -> None:
    with _states_lock:
        _states.add(state)


def _at_exit() -> None:
    """Idle threads end now instead of lingering: the interpreter joins its
    threads before it exits. Busy ones finish their commits first."""
    with _states_lock:
        states = list(_states)
    for state in states:
        state._stop()


# Runs before the interpreter joins its threads (concurrent.futures uses
# the same hook); without it, exit waits out the idle time (half a second).
_register_atexit = getattr(threading, "_register_atexit", None)
if _register_atexit is not None:
    _register_atexit(_at_exit)


def _settle(items: List[Tuple["asyncio.Future[Any]", Any]]) -> None:
    """Runs in the loop: the results of one batch. A future may be done
    already (its task was cancelled, or its timeout came first)."""
    for future, value in items:
        if future.done():
            continue
        if isinstance(value, BaseException):
            future.set_exception(value)
        else:
            future.set_result(value)


async def _commit(pending: Any) -> int:
    future: "asyncio.Future[int]" = pending._submit(asyncio.get_running_loop())
    return await future


async def _wait_durable(db: Any, seq: int, timeout: Optional[float]) -> bool:
    loop = asyncio.get_running_loop()
    future: "Optional[asyncio.Future[bool]]" = db._durable_future(seq, loop)
    if future is None:
        return True
    if timeout is None:
        return await future
    expiry = loop.call_later(timeout, _settle, [(future, False)])
    try:
        return await future
    finally:
        expiry.cancel()
