"""The OpenAI Realtime (GA) side as the relay sees it: the connection it uses, and reading the server's events.

Events are read by attribute (`event.type`, `event.item_id`, ...), so both the SDK's typed models and plain
namespaces from an in-memory double fit. What the relay does with each event is `Relay`'s business; this module
only turns the loose parts (base64 audio, JSON tool arguments, usage objects) into plain values.
"""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from typing import Any, Protocol

END_CALL_TOOL = "end_call"


class RealtimeConnection(Protocol):
    """What the relay uses of `openai`'s `AsyncRealtimeConnection` (an in-memory double fits too)."""

    async def send(self, event: Any) -> None: ...
    def __aiter__(self) -> AsyncIterator[Any]: ...
    async def close(self) -> None: ...


def decode_audio(delta: Any) -> bytes | None:
    try:
        return base64.b64decode(delta, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return None


def parse_arguments(arguments: str | None) -> dict[str, Any]:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def as_dict(value: Any) -> dict[str, Any]:
    """SDK models, namespaces and dicts alike, as plain nested dicts."""
    if value is None:
        return {}
    if hasattr(value, "model_dump"):
        return value.model_dump(exclude_none=True)
    if isinstance(value, dict):
        return value
    return {key: as_dict(item) if hasattr(item, "__dict__") else item for key, item in vars(value).items()}
