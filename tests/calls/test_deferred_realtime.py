"""`DeferredRealtime`: what the relay sends while OpenAI is still connecting goes out in order once it is open."""
import asyncio

import pytest

from calls.live.realtime_client import RealtimeUnavailable
from calls.live.relay.cached_opening import DeferredRealtime


class Connection:
    def __init__(self, events=()):
        self.sent, self.closed, self._events = [], False, list(events)

    async def send(self, event):
        await asyncio.sleep(0)  # a real socket yields: later sends may come in meanwhile
        self.sent.append(event)

    def __aiter__(self):
        return self._iterate()

    async def _iterate(self):
        for event in self._events:
            yield event

    async def close(self):
        self.closed = True


async def test_what_is_sent_while_connecting_goes_out_first_and_in_order():
    opened = asyncio.get_running_loop().create_future()
    deferred = DeferredRealtime(opened)
    await deferred.send({"n": 1})
    await deferred.send({"n": 2})
    connection = Connection(events=["session.created"])
    opened.set_result(connection)
    events = aiter(deferred)
    reading = asyncio.create_task(anext(events))
    await asyncio.sleep(0)
    await deferred.send({"n": 3})  # while the first ones are going out
    assert await reading == "session.created"
    await deferred.send({"n": 4})
    assert connection.sent == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]
    await deferred.close()
    assert connection.closed


async def test_a_connection_that_fails_ends_the_reading_with_its_error():
    async def refused():
        raise RealtimeUnavailable("could not connect to OpenAI Realtime: InvalidStatus")

    deferred = DeferredRealtime(refused())
    await deferred.send({"n": 1})
    with pytest.raises(RealtimeUnavailable):
        await anext(aiter(deferred))
    await deferred.close()  # nothing to close, no error


async def test_closing_while_it_connects_abandons_the_connection():
    started = asyncio.Event()

    async def slow():
        started.set()
        await asyncio.sleep(60)

    deferred = DeferredRealtime(slow())
    await started.wait()
    await asyncio.wait_for(deferred.close(), 1)
    with pytest.raises(asyncio.CancelledError):
        await anext(aiter(deferred))
