"""A fake Twilio Media Streams client: opens a call's `/media-stream/<call code>` websocket the way Twilio does.

It signs the handshake (`X-Twilio-Signature` over the wss URL), sends `connected` and `start` (with the call's
token as a custom parameter), streams 20 ms mu-law frames at real-time pace with Twilio's `timestamp` clock, and
plays back what we send like Twilio's jitter buffer would: `media` is queued and "played" in real time, a `mark`
is echoed once the audio before it has played, `clear` drops the unplayed audio and returns pending marks at once.
Like Twilio, it keeps real time whatever the server does, and plays and captures on that one clock: frames leave
once their 20 ms have been heard, and a mark whose audio has played by then goes out before the frame, so a late
moment of this process (it sends in bursts to catch up) changes no order. Everything goes into one ordered outbox,
so a server slow to read delays delivery but never the clock. `played` and `ended_ms` are on that clock.
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

from simulator.twilio_frames import TwilioFrames

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
        self.ended_ms: float | None = None  # stream time when the stream ended (either side)
        self._queue: deque[tuple[str, float, bytes | str]] = deque()  # (kind, stream ms it arrived, payload or name)
        self._queued = asyncio.Event()
        self._playing_until = 0.0  # stream ms
        self._streaming = False
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self._stopped = False
        self._end_due: float | None = None  # time.monotonic() when Twilio ended the call

    async def open(self, *, headers: dict[str, str] | None = None) -> None:
        headers = dict(headers or {})
        if self.auth_token and "X-Twilio-Signature" not in headers:
            validator = RequestValidator(self.auth_token)
            headers["X-Twilio-Signature"] = validator.compute_signature(self.signed_url or self.url, {})
        self._ws = await connect(self.url, additional_headers=headers, max_size=2**20)
        self._tasks = [asyncio.create_task(self._receive()), asyncio.create_task(self._play()),
                       asyncio.create_task(self._write())]

    def end_at(self, when: float) -> None:
        """Twilio ended the call at `when` (time.monotonic(), maybe from another thread): the stream ends there,
        and nothing heard after it is sent."""
        if self._end_due is None and self._started_at:
            self._end_due = when
            self.ended_ms = self.ended_ms or max(0.0, (when - self._started_at) * 1000)

    def _mark_ended(self) -> None:
        if self.ended_ms is None and self._started_at:
            self.ended_ms = self.stream_ms()

    def stream_ms(self) -> float:
        """Milliseconds since `start` was sent; 0 before it."""
        return (time.monotonic() - self._started_at) * 1000 if self._started_at else 0.0

    async def send(self, message: dict | str) -> None:
        """Queue a message behind everything sent before it (the outbox keeps Twilio's order)."""
        if self._stopped:
            return
        self._outbox.put_nowait(message if isinstance(message, str) else json.dumps(message))

    async def _write(self) -> None:
        while (text := await self._outbox.get()) is not None:
            try:
                await self._ws.send(text)
            except ConnectionClosed:
                return

    async def start(self, *, custom_parameters: dict | None = None) -> None:
        await self.send(self.framer.connected())
        self._started_at = time.monotonic()
        await self.send(self.framer.start({"token": self.token} if custom_parameters is None else custom_parameters))

    @property
    def next_timestamp_ms(self) -> int:
        """The stream time of the next media frame (Twilio's clock never restarts between `stream` calls)."""
        return self._chunk * 20

    async def stream(self, audio: bytes, *, then_silence_s: float = 0.0, until: asyncio.Event | None = None) -> None:
        """Send `audio` then silence in 20 ms frames at real-time pace, stopping early when `until` is set (or,
        once Twilio has ended the call with `end_at`, with the last frame heard before the end)."""
        frames = [audio[i:i + FRAME_BYTES] for i in range(0, len(audio), FRAME_BYTES)]
        frames += [SILENCE] * int(then_silence_s * 50)
        self._streaming = True
        try:
            for frame in frames:
                if self._stopped or self.closed_by_server.is_set() or (
                        until and until.is_set() and self._end_due is None):
                    return
                timestamp_ms = self.next_timestamp_ms
                # Twilio sends a frame once its 20 ms have been heard: the frame stamped t leaves at t + 20 ms.
                due = self._started_at + (timestamp_ms + 20) / 1000
                if self._end_due is not None and due > self._end_due:
                    return
                self._chunk += 1
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._play_until(timestamp_ms + 20)
                await self.send(self.framer.media(timestamp_ms, frame))
        finally:
            self._streaming = False
            self._queued.set()

    async def dtmf(self, digit: str) -> None:
        await self.send(self.framer.dtmf(digit))

    async def stop(self) -> None:
        """What Twilio does when the call ends on its side: a `stop` frame after what it had queued, then the socket
        closes."""
        if self._stopped:
            return
        self._mark_ended()
        self._stopped = True
        self._outbox.put_nowait(json.dumps(self.framer.stop()))
        self._outbox.put_nowait(None)
        await asyncio.wait({self._tasks[2]}, timeout=10)
        try:
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
            self._clear()
        else:
            self.protocol_errors.append(f"unknown event {event!r}")
        self._queued.set()

    def _clear(self) -> None:
        """Twilio drops unplayed audio and answers every pending mark at once (before its next frame)."""
        now_ms = self.stream_ms()
        while self.played and self.played[-1].stream_ms >= now_ms:
            self.played.pop()
        if self.played:
            last = self.played[-1]
            heard = int((now_ms - last.stream_ms) * 8)
            self.played[-1] = PlayedAudio(last.stream_ms, last.payload[:heard])
        self._playing_until = now_ms
        # Every pending mark is due now: they go out before any frame heard after this moment.
        self._queue = deque(("mark", now_ms, value) for kind, _, value in self._queue if kind == "mark")
        self._queued.set()

    async def _play_until(self, now_ms: float) -> None:
        """Play what has arrived, back to back; return each mark whose audio has played by stream time `now_ms`."""
        while self._queue:
            kind, arrived_ms, value = self._queue[0]
            if kind == "media":
                start = max(arrived_ms, self._playing_until)
                self.played.append(PlayedAudio(start, value))
                self._playing_until = start + len(value) / 8
            elif self._playing_until <= now_ms:
                await self._send_mark(value)
            else:
                return
            self._queue.popleft()

    async def _play(self) -> None:
        """Playback while no audio is streamed (the stream's frames carry it otherwise), on the wall clock."""
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
        await self.send(self.framer.mark(name))
