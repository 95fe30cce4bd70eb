"""The cached opening: the bot's first line played from a recording the moment the stream starts, while the Realtime
session may still be opening.

`DeferredRealtime` stands for a connection still being opened: what the relay sends meanwhile (the session update,
the opening as an assistant item, the callee's first audio) waits in order and goes out as soon as it is open;
reading waits for it (a failure to connect ends the relay's pump like a lost connection: the call apologises).
The opening's audio goes to Twilio through `BotAudio` like any bot audio (marks, recording, barge-in clears it) under
OPENING_ITEM_ID; the model is told the line as an assistant message with that id, so it goes on from there, and the
live session answers the callee's first turn.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any

from .ai_events import RealtimeConnection
from .playback import BYTES_PER_MS

OPENING_ITEM_ID = "item_cached_opening"  # our own id for the assistant item (unique in the call's conversation)
OPENING_RESPONSE_ID = "cached_opening"
CHUNK_MS = 200  # the opening goes to Twilio at once, in chunks like the Realtime API's deltas


def assistant_item(text: str) -> dict[str, Any]:
    """`conversation.item.create` of what the bot already said (GA: a `message`, role `assistant`, `output_text`)."""
    return {"type": "conversation.item.create", "item": {
        "id": OPENING_ITEM_ID, "type": "message", "role": "assistant",
        "content": [{"type": "output_text", "text": text}]}}


def chunks(audio: bytes) -> Iterator[bytes]:
    step = int(CHUNK_MS * BYTES_PER_MS)
    for start in range(0, len(audio), step):
        yield audio[start:start + step]


class DeferredRealtime:
    """A `RealtimeConnection` whose socket is still opening (`opening` resolves to the real one)."""

    def __init__(self, opening: Awaitable[RealtimeConnection]) -> None:
        self._opening = asyncio.ensure_future(opening)
        self._connection: RealtimeConnection | None = None
        self._pending: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any]) -> None:
        if self._connection is None:
            self._pending.append(event)
        else:
            await self._connection.send(event)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._events()

    async def _events(self) -> AsyncIterator[Any]:
        connection = await self._opening
        while self._pending:  # in order, including what is sent while these go out
            await connection.send(self._pending.pop(0))
        self._connection = connection
        async for event in connection:
            yield event

    async def close(self) -> None:
        if not self._opening.done():
            self._opening.cancel()
            with contextlib.suppress(BaseException):
                await self._opening
            return
        if not self._opening.cancelled() and self._opening.exception() is None:
            await self._opening.result().close()
