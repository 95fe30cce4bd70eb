"""A fake Twilio Media Streams client: opens a call's `/media-stream/<call code>` websocket the way Twilio does.

It signs the handshake (`X-Twilio-Signature` over the wss URL), sends `connected` and `start` (with the call's
token as a custom parameter), streams 20 ms mu-law frames at real-time pace with Twilio's `timestamp` clock, and
plays back what we send like Twilio's jitter buffer would: `media` is queued and "played" in real time, a `mark`
is echoed once the audio before it has played, `clear` drops the unplayed audio and returns pending marks at once.
Like a phone, it plays and captures on one clock: while it streams, that clock is the audio it has sent (a frame
stamped t leaves once t + 20 ms have been heard, and a mark due before then goes out before it), so a test process
too busy to keep real time delays its whole stream, as a network would, without skewing what it played against
what it sent. `played` and `ended_ms` are on that clock.
It checks what it receives the way Twilio would: only `media`, `mark` and `clear`, the right `streamSid`, valid
base64 payloads; anything else is recorded in `protocol_errors` for the test to assert on.
"""
import asyncio
import base64
import binascii
import json
import secrets
import time
from collections import deque
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
    max_late_ms: float = 0.0  # the latest a media frame left after its due time: this process was starved
    closed_by_server: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._ws: ClientConnection | None = None
        self.framer = TwilioFrames(call_sid=self.call_sid, stream_sid=self.stream_sid, account_sid=self.account_sid)
        self._chunk = 0
        self._started_at = 0.0
        self.ended_ms: float | None = None  # stream time when the socket closed (either side)
        self._queue: deque[tuple[str, float, bytes | str]] = deque()  # (kind, stream ms it arrived, payload or name)
        self._queued = asyncio.Event()
        self._playing = asyncio.Lock()  # the stream and the wall-clock player never play at once
        self._playing_until = 0.0  # stream ms
        self._tasks: list[asyncio.Task] = []
        self._stopped = False
        self._streaming = False
        self._sent_ms = 0.0  # stream ms heard and sent so far, while streaming
        self._sent_at = 0.0  # monotonic time of that

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
        """The stream's clock: milliseconds since `start` was sent (0 before it). While streaming, the audio sent so
        far, plus the time since the last frame up to one frame: a late process slows this clock with its frames."""
        if not self._started_at:
            return 0.0
        if self._streaming:
            return self._sent_ms + min(20.0, (time.monotonic() - self._sent_at) * 1000)
        return (time.monotonic() - self._started_at) * 1000

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
        self._sent_ms, self._sent_at, self._streaming = float(self.next_timestamp_ms), time.monotonic(), True
        try:
            for frame in frames:
                if self._stopped or self.closed_by_server.is_set() or (until and until.is_set()):
                    return
                if not await self._send_frame(frame):
                    return
        finally:
            self._sent_ms, self._streaming = self.stream_ms(), False
            self._started_at = time.monotonic() - self._sent_ms / 1000  # the wall clock takes over from here
            self._queued.set()

    async def _send_frame(self, frame: bytes) -> bool:
        """One frame once its 20 ms have been heard: marks due by then go first, as Twilio's would."""
        timestamp_ms = self.next_timestamp_ms
        self._chunk += 1
        # Twilio sends a frame once its 20 ms have been heard: the frame stamped t leaves at t + 20 ms.
        delay = self._started_at + (timestamp_ms + 20) / 1000 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        self.max_late_ms = max(self.max_late_ms, (time.monotonic() - self._started_at) * 1000 - timestamp_ms - 20)
        await self._play_until(timestamp_ms + 20)
        self._sent_ms, self._sent_at = timestamp_ms + 20, time.monotonic()
        try:
            await self.send(self.framer.media(timestamp_ms, frame))
        except ConnectionClosed:
            return False  # the server closed the stream (after its hang-up, say) while this frame was due
        return True

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
                await self._check_and_queue(raw)
        except Exception:
            pass
        finally:
            self._mark_ended()
            self.closed_by_server.set()

    async def _check_and_queue(self, raw: str | bytes) -> None:
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
            self._queue.append(("media", self.stream_ms(), payload))
        elif event == "mark":
            name = (message.get("mark") or {}).get("name")
            if not isinstance(name, str) or not name:
                self.protocol_errors.append("mark without a name")
                return
            self._queue.append(("mark", self.stream_ms(), name))
        elif event == "clear":
            self.clears += 1
            await self._clear()
        else:
            self.protocol_errors.append(f"unknown event {event!r}")
        self._queued.set()

    async def _clear(self) -> None:
        """Twilio drops unplayed audio and answers every pending mark at once (before its next frame)."""
        now_ms = self.stream_ms()
        while self.played and self.played[-1].stream_ms >= now_ms:
            self.played.pop()
        if self.played:
            last = self.played[-1]
            heard = int((now_ms - last.stream_ms) * 8)
            self.played[-1] = PlayedAudio(last.stream_ms, last.payload[:heard])
        self._playing_until = now_ms
        marks = [value for kind, _, value in self._queue if kind == "mark"]
        self._queue.clear()
        for name in marks:
            await self._send_mark(name)

    async def _play_until(self, now_ms: float) -> None:
        """Play what has arrived up to stream time `now_ms`, returning each mark whose audio has played by then."""
        async with self._playing:
            self._play_queue(now_ms)
            while self._queue and self._queue[0][0] == "mark" and self._playing_until <= now_ms:
                await self._send_mark(self._queue.popleft()[2])
                self._play_queue(now_ms)

    def _play_queue(self, now_ms: float) -> None:
        while self._queue and self._queue[0][0] == "media":
            _, arrived_ms, value = self._queue.popleft()
            start = max(arrived_ms, self._playing_until)
            self.played.append(PlayedAudio(start, value))
            self._playing_until = start + len(value) / 8

    async def _play(self) -> None:
        """Playback when no audio is being streamed: on the wall clock, the stream's clock then."""
        while True:
            await self._queued.wait()
            self._queued.clear()
            while self._queue and not self._streaming:
                await self._play_until(self.stream_ms())
                if self._queue and self._queue[0][0] == "mark":
                    await asyncio.sleep(max(0.0, self._playing_until - self.stream_ms()) / 1000)

    async def _send_mark(self, name: str) -> None:
        if self._stopped:
            return
        self.marks_returned.append(name)
        self.marks_returned_at.append(self.stream_ms())
        try:
            await self.send(self.framer.mark(name))
        except Exception:
            pass
