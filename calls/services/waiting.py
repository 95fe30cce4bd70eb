"""Waking whoever waits for a call to end, across processes, through the Channels layer.

The waiter subscribes to the group `call-<code>` *before* reading the call, and re-reads the database every few
seconds, so neither a final state reached just before subscribing nor a lost message (no shared layer between
processes, Redis hiccup) leaves it waiting until the timeout.

A waiter holds no database connection between its reads, and its database steps run on a few threads of their own:
hundreds of requests may wait for up to MAKE_CALL_TIMEOUT, and a connection each (or a burst of them all reading at
once) would exhaust PostgreSQL's connections, or the process's file descriptors on SQLite, for every other request,
Twilio's callbacks and streams included.
"""
import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import connection

from calls.exceptions import CallWaitTimeout
from calls.models import Call

logger = logging.getLogger(__name__)
T = TypeVar("T")

RECHECK_SECONDS = 2.0
# Database steps of waiters (placing the call, re-reading it) at once per process: that many connections at most.
WAITER_DB_THREADS = 4
# Twilio's final status callback and the end of the media stream race each other (the stream's end is saved by
# whichever process carried the call). Once the call is final, a waiter gives its recording this long to land.
STREAM_SETTLE_SECONDS = 5.0
SETTLE_RECHECK_SECONDS = 0.25


def call_group_name(*, call: Call) -> str:
    return f"call-{call.code}"


def call_notify_final(*, call: Call) -> None:
    """Tell every waiter that `call` reached a final state. Writes nothing; sends one channel-layer message."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(call_group_name(call=call), {"type": "call.final", "status": call.status})
    except Exception:
        # Waiters also poll the database, so a broken layer only delays them: never fail the webhook for it.
        logger.exception("Could not publish the final state sid=%s", call.twilio_sid)


async def call_wait_final(*, call: Call, timeout: float) -> Call:
    """Wait until `call` is final and return it fresh from the database; raise CallWaitTimeout after `timeout` s.

    A call whose media stream is still ending is returned with its recording, once that lands (or after
    STREAM_SETTLE_SECONDS).

    Writes nothing, enqueues nothing. Async: it never holds a thread while waiting.
    """
    layer = get_channel_layer()
    channel = await layer.new_channel() if layer else None
    group = call_group_name(call=call)
    if layer:
        await layer.group_add(group, channel)
    try:
        return await _wait(call=call, timeout=timeout, layer=layer, channel=channel)
    finally:
        if layer:
            await layer.group_discard(group, channel)


async def _wait(*, call: Call, timeout: float, layer, channel: str | None) -> Call:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    settle_by: float | None = None
    while True:
        call = await _call_read(pk=call.pk)
        now = loop.time()
        if call.is_final:
            settle_by = settle_by if settle_by is not None else min(now + STREAM_SETTLE_SECONDS, deadline)
            if not _stream_unfinished(call) or now >= settle_by:
                return call
            seconds = min(settle_by - now, SETTLE_RECHECK_SECONDS)
        elif now >= deadline:
            raise CallWaitTimeout(f"Call {call.twilio_sid} did not end within {timeout:g} s.")
        else:
            seconds = min(deadline - now, RECHECK_SECONDS)
        await _next_message(layer=layer, channel=channel, seconds=seconds)


async def _call_read(*, pk: int) -> Call:
    return await waiter_db_run(Call.objects.select_related("contact").get, pk=pk)


_waiter_db_threads: list[ThreadPoolExecutor] = []


async def waiter_db_run(function: Callable[..., T], /, *args, **kwargs) -> T:
    """Run `function` (a database step of a waiter) on the waiters' WAITER_DB_THREADS threads; close its connection.

    Not in the request's own thread: Django keeps a connection per thread until the request ends, and each waiting
    request's thread would keep one; nor one thread each, as a burst of waiters would open as many connections.
    A caller inside a transaction (a test's) keeps it: the step then runs on its connection, as Django's own would
    (asked in the caller's thread, which holds that connection: Django's connections are per thread).
    """

    def step() -> T:
        try:
            return function(*args, **kwargs)
        finally:
            connection.close()

    if await sync_to_async(_in_transaction)():
        return await sync_to_async(function)(*args, **kwargs)
    if not _waiter_db_threads:
        _waiter_db_threads.append(ThreadPoolExecutor(WAITER_DB_THREADS, thread_name_prefix="waiter-db"))
    return await sync_to_async(step, thread_sensitive=False, executor=_waiter_db_threads[0])()


def _in_transaction() -> bool:
    return connection.in_atomic_block


def _stream_unfinished(call: Call) -> bool:
    """A media stream started and its recording is not linked yet (call_stream_finished has not run)."""
    return bool(call.stream_sid) and not call.recording.name


async def _next_message(*, layer, channel: str | None, seconds: float) -> None:
    if layer is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(layer.receive(channel), seconds)
    except asyncio.TimeoutError:
        pass
