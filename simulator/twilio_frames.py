"""Twilio Media Streams frames exactly as Twilio sends them (PROTOCOLS.md section 4), for every test, fake and bench.

One `TwilioFrames` per stream: it knows the stream's SIDs and numbers the frames the way Twilio does:
`sequenceNumber` counts every message after `connected`, `chunk` counts media frames and `timestamp` is the
stream's clock in milliseconds (20 ms per 160-byte mu-law frame).
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

CALL_SID = "CA" + "1" * 32
STREAM_SID = "MZ" + "2" * 32
ACCOUNT_SID = "AC" + "3" * 32
TOKEN = "t0k3n"
FRAME_MS = 20


@dataclass
class TwilioFrames:
    call_sid: str = CALL_SID
    stream_sid: str = STREAM_SID
    account_sid: str = ACCOUNT_SID
    sequence: int = 0  # the last sequenceNumber handed out

    def _next(self) -> str:
        self.sequence += 1
        return str(self.sequence)

    def connected(self) -> dict[str, Any]:
        return {"event": "connected", "protocol": "Call", "version": "1.0.0"}

    def start(self, custom_parameters: dict[str, str]) -> dict[str, Any]:
        """`custom_parameters` are the TwiML `<Parameter>`s (our stream token)."""
        return {"event": "start", "sequenceNumber": self._next(), "streamSid": self.stream_sid, "start": {
            "accountSid": self.account_sid, "streamSid": self.stream_sid, "callSid": self.call_sid,
            "tracks": ["inbound"], "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": custom_parameters}}

    def media(self, timestamp_ms: int, audio: bytes = b"", *, payload: str | None = None) -> dict[str, Any]:
        """The callee's audio at `timestamp_ms` on the stream's clock; `payload` is audio already in base64."""
        return {"event": "media", "sequenceNumber": self._next(), "streamSid": self.stream_sid, "media": {
            "track": "inbound", "chunk": str(timestamp_ms // FRAME_MS + 1), "timestamp": str(timestamp_ms),
            "payload": base64.b64encode(audio).decode("ascii") if payload is None else payload}}

    def mark(self, name: str) -> dict[str, Any]:
        """The mark we sent, returned once the audio before it has played (or was cleared)."""
        return {"event": "mark", "sequenceNumber": self._next(), "streamSid": self.stream_sid, "mark": {"name": name}}

    def dtmf(self, digit: str) -> dict[str, Any]:
        return {"event": "dtmf", "streamSid": self.stream_sid, "sequenceNumber": self._next(),
                "dtmf": {"track": "inbound_track", "digit": digit}}

    def stop(self) -> dict[str, Any]:
        return {"event": "stop", "sequenceNumber": self._next(), "streamSid": self.stream_sid,
                "stop": {"accountSid": self.account_sid, "callSid": self.call_sid}}
