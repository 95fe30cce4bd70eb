"""Stereo call recording on the stream's clock: left = callee, right = bot, 16-bit PCM at 8 kHz (WAV).

Audio arrives as mu-law and is placed by time, not appended, on the stream's own clock (Twilio's), never on our
process's: the callee's by Twilio's media `timestamp` (milliseconds since the stream started; gaps become silence),
the bot's where Twilio's returned marks say it played (`calls.live.relay.bot_audio` places it). Frames arrive in
order, so `stream_ms` (where the latest callee audio ends) is Twilio's clock at the frame being handled, however far
behind a loaded process runs. `flush` writes everything older than `now - lag` in a worker thread, rewriting the
header sizes each time so the file is a valid WAV mid-call, never past `bot_hold_ms` (where bot audio not yet
placed may still go); `keep_up`, called on every tick, starts one in the background every `FLUSH_EVERY_MS`, so a
crash loses about a second. `close` pads both channels to the stream's duration.
"""
from __future__ import annotations

import asyncio
import logging
import math
import struct
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from . import mulaw

SAMPLE_RATE = 8000
SAMPLES_PER_MS = SAMPLE_RATE // 1000
_FRAME_BYTES = 4  # one 16-bit sample per channel
_HEADER_BYTES = 44
HALF_FRAME_MS = 10.0  # Twilio sends callee audio in 20 ms frames
FLUSH_EVERY_MS = 500  # with the default 500 ms lag: at most one second of a call is lost in a crash
# Bot audio waiting for its mark holds back the writer, but not by more than this: a peer that never returns marks
# must not make the recording grow in memory for the whole call.
MAX_BOT_HOLD_MS = 5000

log = logging.getLogger(__name__)


def wav_header(data_bytes: int) -> bytes:
    """The 44-byte header of a stereo 16-bit 8 kHz PCM WAV holding `data_bytes` of samples."""
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1, 2, SAMPLE_RATE,
        SAMPLE_RATE * _FRAME_BYTES, _FRAME_BYTES, 16, b"data", data_bytes,
    )


def _open_for_writing(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return open(path, "wb")  # noqa: SIM115 (kept open for the whole call)


class Recorder:
    """Places both voices on the call clock and writes them to `path` incrementally.

    `open_file` creates the file (and its folders) when the first audio is written: the caller decides its modes.
    """

    def __init__(self, path: str | Path, *, lag_ms: int = 500, logger: logging.LoggerAdapter | None = None,
                 open_file: Callable[[Path], BinaryIO] = _open_for_writing) -> None:
        self.path = Path(path)
        self.open_file = open_file
        self.lag_ms = lag_ms
        self.log = logger or logging.LoggerAdapter(log, {"call_sid": "-"})
        self._base = 0  # samples already handed to the writer
        self._channels = (bytearray(), bytearray())  # PCM16 from self._base on: (callee, bot)
        self._file: BinaryIO | None = None
        self._written = 0  # data bytes on disk
        self._lock = asyncio.Lock()
        self._closed = False
        self.late_ms = 0  # callee audio that arrived after its place was written (dropped)
        self.callee_end_ms = 0  # where the latest callee audio received ends
        self._heard_callee = False
        self._least_delay_ms = math.inf  # call clock minus stream clock, at its least so far
        self.bot_hold_ms: float | None = None  # set while bot audio waits for its mark: it may go from here on
        self._flush_task: asyncio.Task[None] | None = None
        self._last_flush_ms = 0.0
        # While someone listens in: called with (0 callee | 1 bot, stream ms, mu-law) for audio as it is placed.
        self.listener: Callable[[int, int, bytes], None] | None = None

    @property
    def end_ms(self) -> int:
        """The call-clock time up to which any audio has been placed."""
        longest = max(len(self._channels[0]), len(self._channels[1])) // 2
        return (self._base + longest) // SAMPLES_PER_MS

    def stream_ms(self, now_ms: float) -> float:
        """The stream's clock at the frame being handled: where the latest callee audio ends.

        Twilio sends callee audio every 20 ms, in order with its marks and `stop`, so this is its clock when it sent
        whatever we are handling now, within a frame, even when our process runs seconds behind. Before any callee
        audio (or with none, as in some tests) the call clock `now_ms` stands in.
        """
        return float(self.callee_end_ms) if self._heard_callee else now_ms

    def sending_ms(self, now_ms: float) -> float:
        """Where the stream's clock is at Twilio right now, for audio we send it now: the call clock less the least
        delay seen so far between Twilio's clock and ours. Unlike `stream_ms`, it does not lag when our process
        falls behind on inbound frames (those wait in our queue; what we send does not)."""
        return now_ms - self._least_delay_ms if self._heard_callee else now_ms

    def between_frames_ms(self, now_ms: float) -> float:
        """Where on the stream's clock something Twilio sent after its latest callee frame (a returned mark)
        happened: within the next frame's 20 ms, so half a frame on, on average."""
        return self.stream_ms(now_ms) + (HALF_FRAME_MS if self._heard_callee else 0.0)

    def add_callee(self, at_ms: int, audio: bytes, *, now_ms: float | None = None) -> None:
        """Callee audio stamped `at_ms` by Twilio, received at call-clock time `now_ms`."""
        self.callee_end_ms = max(self.callee_end_ms, at_ms + len(audio) // SAMPLES_PER_MS)  # a mu-law byte per sample
        self._heard_callee = self._heard_callee or bool(audio)
        if now_ms is not None:
            self._least_delay_ms = min(self._least_delay_ms, now_ms - self.callee_end_ms)
        self._place(0, at_ms, audio)
        if self.listener is not None and audio:
            self.listener(0, at_ms, audio)

    def add_bot(self, at_ms: float, audio: bytes) -> None:
        """Bot audio heard from `at_ms` (placed once its mark came back, so where Twilio played it)."""
        self._place(1, round(at_ms), audio)
        if self.listener is not None and audio:
            self.listener(1, round(at_ms), audio)

    def cut_bot(self, from_ms: int) -> None:
        """Forget bot audio from `from_ms` on: it was cleared at Twilio and never heard."""
        offset = max(0, from_ms * SAMPLES_PER_MS - self._base) * 2
        del self._channels[1][offset:]

    def _place(self, channel: int, at_ms: int, audio: bytes) -> None:
        if self._closed or not audio:
            return
        pcm = mulaw.decode(audio)
        offset = (at_ms * SAMPLES_PER_MS - self._base) * 2
        if offset < 0:
            # Its place is already on disk: keep what still fits, count the rest.
            self.late_ms += min(len(pcm), -offset) // 2 // SAMPLES_PER_MS
            pcm, offset = pcm[-offset:], 0
        buffer = self._channels[channel]
        if len(buffer) < offset + len(pcm):
            buffer.extend(bytes(offset + len(pcm) - len(buffer)))
        buffer[offset : offset + len(pcm)] = pcm

    def _take(self, upto_ms: int) -> bytes:
        """Interleave and remove the samples before `upto_ms` (padding the quieter channel with silence)."""
        count = upto_ms * SAMPLES_PER_MS - self._base
        if count <= 0:
            return b""
        left, right = (self._padded(buffer, count) for buffer in self._channels)
        stereo = bytearray(count * _FRAME_BYTES)
        stereo[0::4], stereo[1::4] = left[0::2], left[1::2]
        stereo[2::4], stereo[3::4] = right[0::2], right[1::2]
        self._base += count
        return bytes(stereo)

    @staticmethod
    def _padded(buffer: bytearray, count: int) -> bytes:
        head = bytes(buffer[: count * 2]).ljust(count * 2, b"\0")
        del buffer[: count * 2]
        return head

    def keep_up(self, now_ms: float) -> None:
        """Start writing in the background, if `FLUSH_EVERY_MS` has passed and no write is under way."""
        writing = self._flush_task is not None and not self._flush_task.done()
        if writing or now_ms - self._last_flush_ms < FLUSH_EVERY_MS:
            return
        self._last_flush_ms = now_ms
        # Late callee frames are placed by their own timestamps: never write past the callee audio received so far,
        # nor where bot audio still waiting for its mark may go.
        upto = min(now_ms, self.callee_end_ms)
        if self.bot_hold_ms is not None:
            upto = min(upto, max(self.bot_hold_ms, upto - MAX_BOT_HOLD_MS))
        self._flush_task = asyncio.create_task(self.flush(int(upto)))

    async def flush(self, now_ms: int) -> None:
        """Write what can no longer change (older than `now_ms - lag_ms`), off the event loop."""
        async with self._lock:
            chunk = self._take(now_ms - self.lag_ms)
            if chunk and not self._closed:
                await asyncio.to_thread(self._write, chunk)

    async def close(self, end_ms: int) -> Path:
        """Cut both channels at `end_ms` (nothing after it was heard), write the rest and fix the header."""
        if self._flush_task is not None:
            await asyncio.gather(self._flush_task, return_exceptions=True)
        async with self._lock:
            if self._closed:
                return self.path
            self.cut_bot(end_ms)
            del self._channels[0][max(0, end_ms * SAMPLES_PER_MS - self._base) * 2 :]
            chunk = self._take(end_ms)
            self._closed = True
            await asyncio.to_thread(self._finish, chunk)
        if self.late_ms:
            self.log.info("recording dropped %d ms of late callee audio", self.late_ms)
        return self.path

    async def open(self) -> None:
        """Create the file now rather than at the first write: a recording that cannot be written (a full disk, a
        missing permission) then fails the stream's start, when the call can still end with an apology."""
        async with self._lock:
            if self._file is None:
                await asyncio.to_thread(self._create)

    def _create(self) -> None:
        self._file = self.open_file(self.path)
        self._file.write(wav_header(0))
        self._file.flush()

    def _write(self, chunk: bytes) -> None:
        if self._file is None:
            self._create()
        self._file.seek(0, 2)
        self._file.write(chunk)
        self._written += len(chunk)
        self._file.seek(0)
        self._file.write(wav_header(self._written))
        self._file.flush()

    def _finish(self, chunk: bytes) -> None:
        self._write(chunk)
        assert self._file is not None
        self._file.close()
