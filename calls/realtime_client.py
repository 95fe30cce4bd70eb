"""OpenAI Realtime (GA) connection factory: the only module in calls/ that imports `openai`.

The URL is derived from OPENAI_BASE_URL (`http://127.0.0.1:PORT/v1` -> `ws://127.0.0.1:PORT/v1/realtime?model=...`),
so a local fake or an OpenAI-compatible provider plugs in without code changes.
"""
import logging

from django.conf import settings
from openai import AsyncOpenAI

logger = logging.getLogger(__name__)


class RealtimeUnavailable(Exception):
    """The Realtime service could not be reached or refused us; the call cannot talk."""


def realtime_client() -> AsyncOpenAI:
    if not settings.OPENAI_API_KEY:
        raise RealtimeUnavailable("OPENAI_API_KEY is not set: the bot cannot talk.")
    return AsyncOpenAI(api_key=settings.OPENAI_API_KEY, base_url=settings.OPENAI_BASE_URL, max_retries=0)


async def realtime_connect(*, model: str | None = None):
    """Open one Realtime websocket for one call; returns the SDK's AsyncRealtimeConnection.

    No automatic reconnect: a new socket would start a new conversation mid-call, so a drop ends the call
    politely instead (the consumer plays an apology).
    """
    manager = realtime_client().realtime.connect(model=model or settings.OPENAI_REALTIME_MODEL)
    try:
        return await manager.enter()
    except Exception as exc:  # handshake errors come from `websockets` and the OS, not only OpenAIError
        raise RealtimeUnavailable(f"could not connect to OpenAI Realtime: {type(exc).__name__}") from exc
