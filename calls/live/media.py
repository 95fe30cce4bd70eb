"""Twilio Media Streams frames, typed.

Twilio speaks JSON text frames over the `<Connect><Stream>` websocket (PROTOCOLS.md section 4). Inbound:
`connected`, `start` (call and stream SIDs, custom parameters), `media` (base64 mu-law 8 kHz, with `timestamp` =
milliseconds since the stream started: the call's clock), `mark` (audio we sent before it has played), `dtmf` and
`stop`. Outbound: `media`, `mark` and `clear` (drop what is queued and not yet played).

`parse_frame` is the one place where an inbound frame is checked: anything malformed (not JSON, unknown event,
bad base64, missing fields, oversized) raises `MalformedFrame`, whose message never contains the audio payload.
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

MAX_FRAME_BYTES = 64 * 1024
# A call lasts at most 4 hours at Twilio (TimeLimit's ceiling): a media timestamp outside that is not Twilio's.
MAX_TIMESTAMP_MS = 4 * 3600 * 1000
MULAW_BYTES_PER_MS = 8  # 8 kHz, one byte per sample


class MalformedFrame(ValueError):
    """An inbound Twilio frame we cannot use. The message is safe to log (no audio)."""


class _Frame(BaseModel):
    # Twilio adds fields over time; unknown extras must not break a live call.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ConnectedFrame(_Frame):
    event: Literal["connected"]
    protocol: str = ""
    version: str = ""


class MediaFormat(_Frame):
    encoding: str
    sampleRate: int
    channels: int


class StartInfo(_Frame):
    accountSid: str
    streamSid: str
    callSid: str
    tracks: list[str] = Field(default_factory=list)
    mediaFormat: MediaFormat
    customParameters: dict[str, str] = Field(default_factory=dict)


class StartFrame(_Frame):
    event: Literal["start"]
    streamSid: str
    start: StartInfo


class MediaInfo(_Frame):
    track: str = "inbound"
    chunk: int = 0
    timestamp: int = Field(ge=0, le=MAX_TIMESTAMP_MS)
    audio: bytes = Field(alias="payload")

    @field_validator("audio", mode="before")
    @classmethod
    def _decode_payload(cls, value: Any) -> bytes:
        if not isinstance(value, str):
            raise ValueError("payload must be a base64 string")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("payload is not valid base64") from None

    @property
    def duration_ms(self) -> int:
        return len(self.audio) // MULAW_BYTES_PER_MS


class MediaFrame(_Frame):
    event: Literal["media"]
    streamSid: str
    media: MediaInfo


class MarkInfo(_Frame):
    name: str


class MarkFrame(_Frame):
    event: Literal["mark"]
    streamSid: str
    mark: MarkInfo


class DtmfInfo(_Frame):
    track: str = "inbound_track"
    digit: str = Field(min_length=1, max_length=1)


class DtmfFrame(_Frame):
    event: Literal["dtmf"]
    streamSid: str
    dtmf: DtmfInfo


class StopInfo(_Frame):
    accountSid: str = ""
    callSid: str = ""


class StopFrame(_Frame):
    event: Literal["stop"]
    streamSid: str
    stop: StopInfo = Field(default_factory=StopInfo)


TwilioFrame = Annotated[
    ConnectedFrame | StartFrame | MediaFrame | MarkFrame | DtmfFrame | StopFrame,
    Field(discriminator="event"),
]
_frame_adapter: TypeAdapter[TwilioFrame] = TypeAdapter(TwilioFrame)


def parse_frame(raw: str | bytes) -> TwilioFrame:
    """Parse one inbound text frame, or raise `MalformedFrame` saying why (never echoing the payload)."""
    if len(raw) > MAX_FRAME_BYTES:
        raise MalformedFrame(f"frame of {len(raw)} bytes exceeds {MAX_FRAME_BYTES}")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MalformedFrame("frame is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedFrame("frame is not a JSON object")
    try:
        return _frame_adapter.validate_python(data)
    except ValidationError as exc:
        raise MalformedFrame(f"invalid {str(data.get('event'))[:40]!r} frame: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    # Only locations and messages: pydantic's default text includes the input value (the audio).
    return "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in exc.errors(include_input=False))


def media_frame(stream_sid: str, audio: bytes) -> dict[str, Any]:
    """Outbound audio: Twilio queues it and plays it in order."""
    return {"event": "media", "streamSid": stream_sid, "media": {"payload": base64.b64encode(audio).decode("ascii")}}


def mark_frame(stream_sid: str, name: str) -> dict[str, Any]:
    """Twilio sends this mark back once everything sent before it has played (or was cleared)."""
    return {"event": "mark", "streamSid": stream_sid, "mark": {"name": name}}


def clear_frame(stream_sid: str) -> dict[str, Any]:
    """Drop all audio queued at Twilio and not yet played (barge-in)."""
    return {"event": "clear", "streamSid": stream_sid}
