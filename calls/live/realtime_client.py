"""OpenAI Realtime (GA) connection factory: the only module in calls/ that imports `openai`.

The URL is derived from OPENAI_BASE_URL (`http://127.0.0.1:PORT/v1` -> `ws://127.0.0.1:PORT/v1/realtime?model=...`),
so a local fake or an OpenAI-compatible provider plugs in without code changes; OPENAI_REALTIME_BASE_URL overrides the
websocket's base alone (a realtime gateway apart from the REST endpoint).
"""
import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

# Imported here, at start-up, not lazily on the first call: they cost ~0.6 s of CPU, which would hold up the event
# loop (every live call in the process) the first time a call starts.
import openai.lib._websocket  # noqa: F401
import openai.resources.realtime.realtime  # noqa: F401
import openai.types.realtime  # noqa: F401
import orjson
from django.conf import settings
from openai import AsyncOpenAI
from websockets.exceptions import ConnectionClosedOK

logger = logging.getLogger(__name__)


class RealtimeUnavailable(Exception):
    """The Realtime service could not be reached or refused us; the call cannot talk."""


def realtime_client() -> AsyncOpenAI:
    if not settings.OPENAI_API_KEY:
        raise RealtimeUnavailable("OPENAI_API_KEY is not set: the bot cannot talk.")
    return _client(settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL, settings.OPENAI_REALTIME_BASE_URL or None)


def realtime_client_warm() -> None:
    """Build the process's client now (at start-up), not when the first call starts: that takes ~0.3 s of CPU on
    the event loop (an SSL context for its HTTP pool), which the first callee would hear as silence."""
    with contextlib.suppress(RealtimeUnavailable):
        realtime_client()


@functools.lru_cache(maxsize=4)
def _client(api_key: str, base_url: str, websocket_base_url: str | None) -> AsyncOpenAI:
    # One client per process: building one loads an SSL context (~20-30 ms of CPU on the event loop, every live
    # call waits), and the realtime websocket uses only its URLs and key, never its HTTP connection pool.
    return AsyncOpenAI(api_key=api_key, base_url=base_url, websocket_base_url=websocket_base_url, max_retries=0)


class RealtimeSession:
    """One call's Realtime socket as the relay uses it (`calls.live.relay.RealtimeConnection`), minus the SDK's typing.

    The SDK's `send` walks every dict through its TypedDict transformer and `recv` builds a pydantic model of every
    event: about half of Daphne's CPU per call went there, 50 audio frames a second each way. The relay's events are
    already in the wire shape (`calls.live.relay.session`) and it reads server events by attribute, so plain JSON out and
    namespaces in carry the same information. The SDK still opens, authenticates and closes the socket; in between,
    events go straight to and from its websocket (`_connection`: the same one for the whole call, since we never ask
    the SDK to reconnect), which skips its send queue and current-task lookup on every event, and JSON goes through
    orjson.
    """

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self._socket = getattr(connection, "_connection", None)

    async def send(self, event: dict[str, Any]) -> None:
        data = orjson.dumps(event)
        if self._socket is not None:
            await self._socket.send(data, text=True)  # a text frame, as the SDK sends
        else:
            await self.connection.send_raw(data.decode())

    async def __aiter__(self) -> AsyncIterator[SimpleNamespace]:
        while True:
            try:
                raw = await (self._socket.recv(decode=False) if self._socket is not None
                             else self.connection.recv_bytes())
            except ConnectionClosedOK:
                return
            yield _namespace(_loads(raw))

    async def close(self) -> None:
        await self.connection.close()


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)  # what orjson declines and json reads (NaN, Infinity), or json's own error


def _namespace(value: Any) -> Any:
    """JSON objects as attribute namespaces, all the way down (what `json.loads(object_hook=...)` would build)."""
    if type(value) is dict:
        return SimpleNamespace(**{key: _namespace(item) for key, item in value.items()})
    if type(value) is list:
        return [_namespace(item) for item in value]
    return value


async def realtime_connect(*, model: str | None = None) -> RealtimeSession:
    """Open one Realtime websocket for one call.

    No automatic reconnect: a new socket would start a new conversation mid-call, so a drop ends the call
    politely instead (the consumer plays an apology).
    """
    manager = realtime_client().realtime.connect(model=model or settings.OPENAI_REALTIME_MODEL)
    try:
        return RealtimeSession(await manager.enter())
    except Exception as exc:  # handshake errors come from `websockets` and the OS, not only OpenAIError
        raise RealtimeUnavailable(f"could not connect to OpenAI Realtime: {type(exc).__name__}") from exc
