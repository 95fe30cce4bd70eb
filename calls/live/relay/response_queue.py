"""The bot's responses: one in flight at a time, the rest queued, and which one is the goodbye.

The Realtime API refuses a `response.create` while a response is active (error
`conversation_already_has_active_response`), and server VAD starts responses of its own. So a request waits
while one is in flight (ours or the VAD's, seen as `response.created`) and goes out when `response.done` arrives;
a refused request goes back to the front. The goodbye is the first response created after the goodbye request was
sent; the call may hang up once that response is done and its audio has played.

Pure bookkeeping: every method says what to send (a `ResponseRequest`) or nothing, and the relay sends it.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class ResponseRequest:
    """One `response.create` we want: its per-response instructions, and whether it is the goodbye."""

    instructions: str | None
    goodbye: bool = False


PLAIN = ResponseRequest(None)  # the model goes on from the conversation as it stands (a tool's answer, a key)


class ResponseQueue:
    def __init__(self) -> None:
        self._in_flight = False
        self._queued: deque[ResponseRequest] = deque()
        self._last_sent: ResponseRequest | None = None  # sent and not yet done: resent if refused
        self._goodbye_sent = False
        self._goodbye_id: str | None = None
        self._goodbye_done = False

    @property
    def in_flight(self) -> bool:
        """A response is active: a new `response.create` would be refused."""
        return self._in_flight

    @property
    def waiting(self) -> int:
        """Requests queued behind the response in flight."""
        return len(self._queued)

    @property
    def goodbye_done(self) -> bool:
        """The goodbye response has finished (all its audio has been sent)."""
        return self._goodbye_done

    def request(self, request: ResponseRequest) -> ResponseRequest | None:
        """Ask for a response: returns it if it should be sent now, or None if it waits its turn."""
        if self._in_flight:
            if not (request == PLAIN and PLAIN in self._queued):  # one plain response answers every new item
                self._queued.append(request)
            return None
        return self._send(request)

    def withdraw(self, request: ResponseRequest) -> bool:
        """Take back `request` if it is still waiting its turn; False if it was already sent (or never asked)."""
        try:
            self._queued.remove(request)
        except ValueError:
            return False
        return True

    def created(self, response_id: str | None) -> None:
        """`response.created`: ours or one the server's VAD started. The first after the goodbye request is it."""
        self._in_flight = True
        if self._goodbye_sent and self._goodbye_id is None:
            self._goodbye_id = response_id

    def refused(self) -> None:
        """Our last `response.create` met an active response: it goes first once that one is done."""
        if self._last_sent is None:
            return
        if self._last_sent.goodbye:
            # The response taken for the goodbye was one we did not ask for: wait for the real one.
            self._goodbye_sent, self._goodbye_id = False, None
        self._queued.appendleft(self._last_sent)
        self._last_sent = None

    def done(self, response_id: str | None) -> ResponseRequest | None:
        """`response.done`: returns the next queued request, now to be sent, if any."""
        if self._goodbye_id is not None and self._goodbye_id == response_id:
            self._goodbye_done = True
        self._in_flight = False
        self._last_sent = None
        return self._send(self._queued.popleft()) if self._queued else None

    def _send(self, request: ResponseRequest) -> ResponseRequest:
        self._in_flight = True
        self._last_sent = request
        if request.goodbye:
            self._goodbye_sent = True
        return request
