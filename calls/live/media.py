"""Twilio Media Streams frames, typed.

Twilio speaks JSON text frames over the `<Connect><Stream>` websocket (PROTOCOLS.md section 4). Inbound:
`connected`, `start` (call and stream SIDs, custom parameters), `media` (base64 mu-law 8 kHz, with `timestamp` =
milliseconds since the stream started: the call's clock), `mark` (audio we sent before it has played), `dtmf` and
`stop`. Outbound: `media`, `mark` and `clear` (drop what is queued and not yet played).

`parse_frame` is the one place where an inbound frame is judged: anything malformed (not JSON, unknown event,
bad base64, missing fields, oversized) raises `MalformedFrame`, whose message never contains the audio payload.
`read_media` is its fast path for the one frame that comes 50 times a second: it reads a plainly well-formed `media`
frame without building models, and answers None for anything else, which then goes to `parse_frame`. It refuses
nothing itself, so a frame is refused by `parse_frame` alone, always in the same words.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import orjson
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


@dataclass(frozen=True, slots=True)
class MediaChunk:
    """What the relay uses of a callee `media` frame read by `read_media`."""

    timestamp: int  # ms on the stream's clock
    audio: bytes  # mu-law


# Twilio's numbers come as strings of digits ("timestamp": "1240", "chunk": "63"); ints are read too. Longer strings
# (or signs, spaces, underscores, floats, bools: all of which pydantic reads) are left to `parse_frame`.
_MAX_DIGITS = 15


def _plain_int(value: Any) -> int | None:
    if type(value) is int:
        return value
    if type(value) is str and 0 < len(value) <= _MAX_DIGITS and value.isascii() and value.isdigit():
        return int(value)
    return None


def read_media(raw: str | bytes) -> MediaChunk | None:
    """A plainly well-formed `media` frame's timestamp and audio, or None: then `parse_frame` must judge the frame.

    Accepts exactly a subset of what `parse_frame` accepts as a `MediaFrame`, with the same values (the tests hold
    the two side by side): a JSON object with `event` "media", a string `streamSid`, and a `media` object whose
    `timestamp` is a plain non-negative integer within MAX_TIMESTAMP_MS, whose `payload` is strict base64 and whose
    optional `track` and `chunk` are a string and a plain integer.
    """
    if len(raw) > MAX_FRAME_BYTES:
        return None
    try:
        data = orjson.loads(raw)  # several times faster than json; anything it refuses goes to parse_frame
    except (ValueError, UnicodeDecodeError):
        return None
    if type(data) is not dict or data.get("event") != "media" or type(data.get("streamSid")) is not str:
        return None
    info = data.get("media")
    if type(info) is not dict:
        return None
    timestamp = _plain_int(info.get("timestamp"))
    if timestamp is None or not 0 <= timestamp <= MAX_TIMESTAMP_MS:
        return None
    if type(info.get("track", "")) is not str or ("chunk" in info and _plain_int(info["chunk"]) is None):
        return None
    payload = info.get("payload")
    if type(payload) is not str:
        return None
    try:
        audio = binascii.a2b_base64(payload, strict_mode=True)  # stricter than parse_frame's: never looser
    except (binascii.Error, ValueError):
        return None
    return MediaChunk(timestamp, audio)


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
