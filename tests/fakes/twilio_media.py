"""A fake Twilio Media Streams client: opens a call's `/media-stream/<call code>` websocket the way Twilio does.

It signs the handshake (`X-Twilio-Signature` over the wss URL), sends `connected` and `start` (with the call's
token as a custom parameter), streams 20 ms mu-law frames at real-time pace with Twilio's `timestamp` clock, and
plays back what we send like Twilio's jitter buffer would: `media` is queued and "played" in real time, a `mark`
is echoed once the audio before it has played, `clear` drops the unplayed audio and returns pending marks at once.
It checks what it receives the way Twilio would: only `media`, `mark` and `clear`, the right `streamSid`, valid
base64 payloads; anything else is recorded in `protocol_errors` for the test to assert on.
"""
import asyncio
import base64
import binascii
import json
import secrets
import time
from dataclasses import dataclass, field

from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.fakes.twilio_frames import TwilioFrames

FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
SILENCE = b"\xff" * FRAME_BYTES


@dataclass
class PlayedAudio:
    stream_ms: float
    payload: bytes


@dataclass
class TwilioMediaClient:
    url: str  # ws://127.0.0.1:PORT/media-stream/<call code>
    token: str
    call_sid: str
    account_sid: str = "AC" + "0" * 32
    auth_token: str | None = None
    signed_url: str | None = None  # the public wss URL Twilio signs; defaults to `url`
    stream_sid: str = field(default_factory=lambda: "MZ" + secrets.token_hex(16))
    received: list[dict] = field(default_factory=list)
    played: list[PlayedAudio] = field(default_factory=list)
    protocol_errors: list[str] = field(default_factory=list)
    marks_returned: list[str] = field(default_factory=list)
    marks_returned_at: list[float] = field(default_factory=list)  # stream ms at which each mark went back
    clears: int = 0
    closed_by_server: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._ws: ClientConnection | None = None
        self.framer = TwilioFrames(call_sid=self.call_sid, stream_sid=self.stream_sid, account_sid=self.account_sid)
        self._chunk = 0
        self._started_at = 0.0
        self.ended_ms: float | None = None  # stream time when the socket closed (either side)
        self._playback: asyncio.Queue = asyncio.Queue()
        self._playing_until = 0.0
        self._tasks: list[asyncio.Task] = []
        self._stopped = False
        self._inflight_mark: str | None = None

    async def open(self, *, headers: dict[str, str] | None = None) -> None:
        headers = dict(headers or {})
        if self.auth_token and "X-Twilio-Signature" not in headers:
            validator = RequestValidator(self.auth_token)
            headers["X-Twilio-Signature"] = validator.compute_signature(self.signed_url or self.url, {})
        self._ws = await connect(self.url, additional_headers=headers, max_size=2**20)
        self._tasks = [asyncio.create_task(self._receive()), asyncio.create_task(self._play())]

    def _mark_ended(self) -> None:
        if self.ended_ms is None and self._started_at:
            self.ended_ms = self.stream_ms()

    def stream_ms(self) -> float:
        """Milliseconds since `start` was sent; 0 before it."""
        return (time.monotonic() - self._started_at) * 1000 if self._started_at else 0.0

    async def send(self, message: dict | str) -> None:
        await self._ws.send(message if isinstance(message, str) else json.dumps(message))

    async def start(self, *, custom_parameters: dict | None = None) -> None:
        await self.send(self.framer.connected())
        self._started_at = time.monotonic()
        await self.send(self.framer.start({"token": self.token} if custom_parameters is None else custom_parameters))

    @property
    def next_timestamp_ms(self) -> int:
        """The stream time of the next media frame (Twilio's clock never restarts between `stream` calls)."""
        return self._chunk * 20

    async def stream(self, audio: bytes, *, then_silence_s: float = 0.0, until: asyncio.Event | None = None) -> None:
        """Send `audio` then silence in 20 ms frames at real-time pace, stopping early when `until` is set."""
        frames = [audio[i:i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES)]
        frames += [SILENCE] * int(then_silence_s * 50)
        for frame in frames:
            if self._stopped or self.closed_by_server.is_set() or (until and until.is_set()):
                return
            timestamp_ms = self.next_timestamp_ms
            self._chunk += 1
            delay = self._started_at + timestamp_ms / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await self.send(self.framer.media(timestamp_ms, frame))
            except ConnectionClosed:
                return  # the server closed the stream (after its hang-up, say) while this frame was due

    async def dtmf(self, digit: str) -> None:
        await self.send(self.framer.dtmf(digit))

    async def stop(self) -> None:
        """What Twilio does when the call ends on its side: a `stop` frame, then the socket closes."""
        if self._stopped:
            return
        self._stopped = True
        self._mark_ended()
        try:
            await self.send(self.framer.stop())
            await self._ws.close()
        except Exception:
            pass
        await self._finish()

    async def drop(self) -> None:
        """The socket vanishes with no `stop` (network loss)."""
        self._stopped = True
        self._mark_ended()
        self._ws.transport.abort()
        await self._finish()

    async def _finish(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _receive(self) -> None:
        try:
            async for raw in self._ws:
                self._check_and_queue(raw)
        except Exception:
            pass
        finally:
            self._mark_ended()
            self.closed_by_server.set()

    def _check_and_queue(self, raw: str | bytes) -> None:
        if isinstance(raw, bytes):
            self.protocol_errors.append("binary frame")
            return
        try:
            message = json.loads(raw)
        except ValueError:
            self.protocol_errors.append(f"not JSON: {raw[:80]!r}")
            return
        self.received.append(message)
        event = message.get("event")
        if message.get("streamSid") != self.stream_sid:
            self.protocol_errors.append(f"{event}: wrong streamSid {message.get('streamSid')!r}")
        if event == "media":
            try:
                payload = base64.b64decode(message["media"]["payload"], validate=True)
            except (KeyError, TypeError, binascii.Error):
                self.protocol_errors.append("media without a valid base64 payload")
                return
            self._playback.put_nowait(("media", payload))
        elif event == "mark":
            name = (message.get("mark") or {}).get("name")
            if not isinstance(name, str) or not name:
                self.protocol_errors.append("mark without a name")
                return
            self._playback.put_nowait(("mark", name))
        elif event == "clear":
            self.clears += 1
            self._clear()
        else:
            self.protocol_errors.append(f"unknown event {event!r}")

    def _clear(self) -> None:
        """Twilio drops unplayed audio and answers every pending mark at once."""
        pending = []
        while not self._playback.empty():
            pending.append(self._playback.get_nowait())
        now_ms = self.stream_ms()
        while self.played and self.played[-1].stream_ms >= now_ms:
            self.played.pop()
        if self.played:
            last = self.played[-1]
            heard = int((now_ms - last.stream_ms) * 8)
            self.played[-1] = PlayedAudio(last.stream_ms, last.payload[:heard])
        self._playing_until = time.monotonic()
        marks = [value for kind, value in pending if kind == "mark"]
        if self._inflight_mark is not None:
            marks.insert(0, self._inflight_mark)
            self._inflight_mark = None
        for name in marks:
            asyncio.ensure_future(self._send_mark(name))

    async def _play(self) -> None:
        while True:
            kind, value = await self._playback.get()
            if kind == "media":
                start = max(time.monotonic(), self._playing_until)
                self.played.append(PlayedAudio((start - self._started_at) * 1000, value))
                self._playing_until = start + len(value) / 8000
                continue
            self._inflight_mark = value
            delay = self._playing_until - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._inflight_mark == value:  # not already answered by a clear
                self._inflight_mark = None
                await self._send_mark(value)

    async def _send_mark(self, name: str) -> None:
        if self._stopped:
            return
        self.marks_returned.append(name)
        self.marks_returned_at.append(self.stream_ms())
        try:
            await self.send(self.framer.mark(name))
        except Exception:
            pass
