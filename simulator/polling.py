"""Waiting for something another process, thread or task does (in the tests and the simulator): one poll,
blocking or async.

Both fail the test with an AssertionError that says what was awaited and for how long. The predicate is asked
once more after the deadline, so a slow machine that got there in the end does not fail.
"""
import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], *, what: str, timeout: float = 10, interval: float = 0.05) -> T:
    """Poll `predicate` until it returns something truthy, and return that; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        late = time.monotonic() >= deadline
        value = predicate()
        if value:
            return value
        if late:
            raise AssertionError(_timed_out(what, timeout))
        time.sleep(interval)


async def async_wait_for(predicate: Callable[[], T | Awaitable[T]], *, what: str, timeout: float = 10,
                         interval: float = 0.02) -> T:
    """`wait_for` inside an event loop: sleeps without blocking it; `predicate` may return an awaitable (a
    coroutine, `asyncio.to_thread(...)`), which is awaited for its value."""
    deadline = time.monotonic() + timeout
    while True:
        late = time.monotonic() >= deadline
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if late:
            raise AssertionError(_timed_out(what, timeout))
        await asyncio.sleep(interval)


def _timed_out(what: str, timeout: float) -> str:
    return f"timed out after {timeout:g} s waiting for {what}"
