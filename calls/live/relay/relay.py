"""The relay: one live call between a Twilio Media Stream and an OpenAI Realtime (GA) session.

Twilio -> OpenAI: `start` opens the session (`session.update`, then the bot speaks first with `response.create`);
`media` audio is appended untouched (pcmu both sides) and recorded; `mark` confirms bot audio played; `dtmf` goes to
the timeline; `stop` closes. OpenAI -> Twilio (`run()`): `response.output_audio.delta` becomes a Twilio `media`
frame followed by a `mark`; `input_audio_buffer.speech_started` while bot audio is queued is a barge-in (`clear`,
`conversation.item.truncate` at what was heard, recording cut); `end_call` leads to a goodbye and a hang-up once its
mark returns (or at a cap). Pure asyncio: no Django here; persistence goes out through `on_event`.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from pydantic import BaseModel

from calls.live import media

from . import session
from .ai_events import dispatch
from .calllog import CallLogger
from .mulaw import gain_table
from .playback import Playback
from .reasons import AI_UNAVAILABLE, CALLEE_HANGUP, DURATION_LIMIT, SILENCE, VOICEMAIL
from .recorder import Recorder
from .timers import CallTimers, Due, Ending
from .transcript import Metrics, Transcript

log = logging.getLogger(__name__)

FLUSH_EVERY_MS = 500  # with Recorder's 500 ms lag: at most one second of a call is lost in a crash

SendToTwilio = Callable[[dict[str, Any]], Awaitable[None]]
OnEvent = Callable[[dict[str, Any]], Awaitable[None]]
HangUp = Callable[[str], Awaitable[None]]

# Twilio stamps callee audio on the stream's clock, which keeps pace with ours. A frame claiming to be further ahead
# than this is garbage, and placing it would make the recorder hold the whole gap as silence in memory.
MAX_MEDIA_AHEAD_MS = 60_000


class RealtimeConnection(Protocol):
    """What the relay uses of `openai`'s `AsyncRealtimeConnection` (an in-memory double fits too)."""

    async def send(self, event: Any) -> None: ...
    def __aiter__(self) -> AsyncIterator[Any]: ...
    async def close(self) -> None: ...


class Relay:
    """Relays one call; see the module docstring. The consumer forwards frames and awaits `run()`."""

    def __init__(
        self, *, send_to_twilio: SendToTwilio, realtime: RealtimeConnection, settings: session.RelaySettings,
        recorder: Recorder, on_event: OnEvent, hang_up: HangUp, clock: Callable[[], float] = time.monotonic,
        call_sid: str = "-", tick_s: float = 0.1, started_at: float | None = None,
    ) -> None:
        self._twilio, self._realtime, self.settings = send_to_twilio, realtime, settings
        self.recorder, self._on_event, self._hang_up, self._clock = recorder, on_event, hang_up, clock
        self.log = CallLogger(log, call_sid)
        self.recorder.log = self.log
        self._tick_s = tick_s
        self._gain = gain_table(settings.input_gain_db) if settings.input_gain_db else None
        self.stream_sid: str | None = None
        self._t0: float | None = None
        # `clock()` when Twilio's start frame arrived, if the consumer handled it late (it opens OpenAI first):
        # Twilio's media timestamps count from then, so the bot's audio must too.
        self._started_at = started_at
        self.transcript, self.metrics, self.playback = Transcript(), Metrics(), Playback()
        self.timers = CallTimers(duration_limit_s=settings.duration_limit_s, grace_s=settings.grace_s,
                                 silence_timeout_s=settings.silence_timeout_s)
        self.end_reason: str | None = None
        self.responding = False  # a response is in flight: a new response.create would be refused
        self._queued: list[tuple[str | None, bool]] = []
        self._last_request: tuple[str | None, bool] | None = None
        self._interrupted_items: set[str] = set()
        self.callee_speaking = False
        self._callee_end_ms = 0
        self._hung_up = self._closed = self._ai_failed = False
        self._done = asyncio.Event()
        self._flush_task: asyncio.Task[None] | None = None
        self._last_flush_ms = 0.0

    @property
    def now_ms(self) -> float:
        """Milliseconds on the call clock (since Twilio's `start`)."""
        return 0.0 if self._t0 is None else round((self._clock() - self._t0) * 1000, 3)

    # ---- Twilio -> relay ------------------------------------------------------------------------------------------
    async def handle_twilio_frame(self, raw: str | bytes | BaseModel) -> None:
        """One inbound Twilio frame (raw text, or already parsed by `calls.live.media.parse_frame`)."""
        try:
            frame = raw if isinstance(raw, BaseModel) else media.parse_frame(raw)
        except media.MalformedFrame as exc:
            self.log.warning("ignored Twilio frame: %s", exc)
            return
        if self.stream_sid is None and not isinstance(frame, (media.StartFrame, media.ConnectedFrame)):
            self.log.warning("ignored Twilio %s frame before start", getattr(frame, "event", "?"))
            return
        handler = getattr(self, f"_on_twilio_{getattr(frame, 'event', '')}", None)
        if handler is not None:
            await handler(frame)
        await self.tick()

    async def _on_twilio_start(self, frame: media.StartFrame) -> None:
        if self.stream_sid is not None:
            self.log.warning("ignored a second start frame")
            return
        self.stream_sid = frame.streamSid
        self._t0 = self._started_at if self._started_at is not None else self._clock()
        self.log.call_sid = frame.start.callSid
        self.log.info("stream %s started", frame.streamSid)
        await self.send_ai(session.session_update(self.settings))
        await self._request_response(self.settings.opening_instruction)

    async def _on_twilio_media(self, frame: media.MediaFrame) -> None:
        if frame.media.timestamp > self.now_ms + MAX_MEDIA_AHEAD_MS:
            self.log.warning("ignored media stamped %d ms, far ahead of the call clock", frame.media.timestamp)
            return
        audio = frame.media.audio
        self.recorder.add_callee(frame.media.timestamp, audio)
        self._callee_end_ms = max(self._callee_end_ms, frame.media.timestamp + frame.media.duration_ms)
        if self._gain is not None:
            audio = audio.translate(self._gain)
        await self.send_ai(session.audio_append(audio))

    async def _on_twilio_mark(self, frame: media.MarkFrame) -> None:
        if self.playback.confirm(frame.mark.name) is not None and not self.playback.busy:
            self.timers.activity(self.now_ms)
        await self.finish_goodbye_if_played()

    async def _on_twilio_dtmf(self, frame: media.DtmfFrame) -> None:
        self.timers.callee_spoke(self.now_ms)
        await self.emit({"type": "dtmf", "digit": frame.dtmf.digit, "at_ms": int(self.now_ms)})

    async def _on_twilio_stop(self, frame: media.StopFrame) -> None:
        await self.close(CALLEE_HANGUP)

    # ---- OpenAI -> relay -> Twilio --------------------------------------------------------------------------------
    async def run(self) -> str | None:
        """Pump OpenAI events until the call is closed or OpenAI fails; returns the end reason so far."""
        pump = asyncio.create_task(self._pump())
        ticker = asyncio.create_task(self._tick_forever())
        done = asyncio.create_task(self._done.wait())
        try:
            await asyncio.wait({pump, done}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, ticker, done):
                task.cancel()
            await asyncio.gather(pump, ticker, done, return_exceptions=True)
        return self.end_reason

    async def _pump(self) -> None:
        events = aiter(self._realtime)
        while True:
            try:
                event = await anext(events)
            except StopAsyncIteration:
                break
            except Exception as exc:  # websockets' and the SDK's errors alike: the session is gone
                self.log.warning("OpenAI connection lost: %s", type(exc).__name__)
                break
            try:
                await dispatch(self, event)
            except Exception:
                # One odd event must not end the call; the connection itself is still fine.
                self.log.exception("could not handle OpenAI event %s", getattr(event, "type", "?"))
        if not self._closed:
            await self.fail_ai("the Realtime connection ended mid-call")

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            await self.tick()

    async def tick(self) -> None:
        """Act on whatever timer is due; called on every Twilio frame and every `tick_s` by `run()`."""
        if self._t0 is None or self._closed:
            return
        now = self.now_ms
        self._flush_recording(now)
        if self._hung_up:
            return
        idle = not (self.responding or self.playback.busy or self.callee_speaking)
        due = self.timers.due(now, conversation_idle=idle)
        if due is Due.HANG_UP_GOODBYE and self.timers.ending:
            await self.hang_up(self.timers.ending.reason)
        elif due is Due.HARD_STOP:
            await self.hang_up(DURATION_LIMIT)
        elif due is Due.WRAP_UP and self.settings.wrap_up_instruction:
            await self._request_response(self.settings.wrap_up_instruction)
        elif due is Due.SILENCE_PROMPT:
            await self._request_response(self.settings.silence_prompt_instruction)
        elif due is Due.SILENCE_END:
            await self.begin_goodbye(SILENCE, self.settings.silence_goodbye_instruction)

    def _flush_recording(self, now: float) -> None:
        # A writer task at a time, every FLUSH_EVERY_MS: with the recorder holding back its lag for late frames,
        # a crash loses at most FLUSH_EVERY_MS + lag = one second. Late Twilio frames are placed by their own
        # timestamps, so never write past the callee audio received so far.
        if now - self._last_flush_ms >= FLUSH_EVERY_MS and (self._flush_task is None or self._flush_task.done()):
            self._last_flush_ms = now
            self._flush_task = asyncio.create_task(self.recorder.flush(int(min(now, self._callee_end_ms))))

    # ---- actions --------------------------------------------------------------------------------------------------
    async def send_audio_to_twilio(self, *, item_id: str, response_id: str, audio: bytes) -> None:
        if self.stream_sid is None or item_id in self._interrupted_items or self._hung_up:
            return
        now = self.now_ms
        segment = self.playback.schedule(now_ms=now, item_id=item_id, response_id=response_id,
                                         audio_bytes=len(audio))
        self.recorder.add_bot(int(segment.start_ms), audio)
        await self._send_twilio(media.media_frame(self.stream_sid, audio))
        await self._send_twilio(media.mark_frame(self.stream_sid, segment.mark))
        self.metrics.bot_audio_sent(now)

    async def barge_in(self, now: float) -> None:
        """The callee spoke over queued bot audio: drop it at Twilio, tell the model what was heard."""
        interruption = self.playback.interrupt(now)
        if interruption is None or self.stream_sid is None:
            return
        await self._send_twilio(media.clear_frame(self.stream_sid))
        await self.send_ai(session.truncate(interruption.item_id, interruption.audio_end_ms))
        self.recorder.cut_bot(int(now))
        self._interrupted_items.add(interruption.item_id)
        self.metrics.barge_ins += 1
        await self.emit({"type": "barge_in", "at_ms": int(now), "item_id": interruption.item_id,
                          "audio_end_ms": interruption.audio_end_ms})
        await self.finish_goodbye_if_played()

    async def begin_goodbye(self, reason: str, instruction: str, detail: dict[str, str] | None = None) -> None:
        """Say goodbye, then hang up when its audio has played (or after the cap)."""
        if self.timers.ending is not None or self._hung_up:
            return
        deadline = self.now_ms + self.settings.goodbye_mark_cap_s * 1000
        self.timers.ending = Ending(reason=reason, deadline_ms=deadline, detail=detail or {})
        await self._request_response(instruction, goodbye=True)

    async def leave_voicemail(self) -> None:
        """An answering machine picked up (AMD): leave the message, then hang up once it has played."""
        await self.begin_goodbye(VOICEMAIL, self.settings.voicemail_instruction)

    async def finish_goodbye_if_played(self) -> None:
        ending = self.timers.ending
        if ending is not None and ending.response_done and not self.playback.busy:
            await self.hang_up(ending.reason)

    async def _request_response(self, instructions: str | None, *, goodbye: bool = False) -> None:
        """`response.create` now, or when the response in flight is done (the API refuses two at once)."""
        if self.responding:
            self._queued.append((instructions, goodbye))
            return
        await self._send_response_create(instructions, goodbye=goodbye)

    async def _send_response_create(self, instructions: str | None, *, goodbye: bool) -> None:
        self.responding = True
        self._last_request = (instructions, goodbye)
        if goodbye and self.timers.ending is not None:
            self.timers.ending.requested = True
        # Per-response instructions replace the session's, so keep the persona in front of them.
        full = f"{self.settings.instructions}\n\n{instructions}" if instructions else None
        await self.send_ai(session.response_create(full))

    def response_refused(self) -> None:
        """Our response.create met an active response: send it again when that one is done."""
        if self._last_request is None:
            return
        if self._last_request[1] and self.timers.ending is not None:
            # A response we did not ask for may have been taken for the goodbye: wait for the real one.
            self.timers.ending.requested, self.timers.ending.response_id = False, None
        self._queued.insert(0, self._last_request)
        self._last_request = None

    async def response_finished(self) -> None:
        self.responding = False
        self._last_request = None
        if self._queued:
            instructions, goodbye = self._queued.pop(0)
            await self._send_response_create(instructions, goodbye=goodbye)

    async def hang_up(self, reason: str) -> None:
        """Ask the consumer to end the call (once); `close()` follows when Twilio stops the stream."""
        if self._hung_up:
            return
        self._hung_up = True
        self.end_reason = self.end_reason or reason
        detail = self.timers.ending.detail if self.timers.ending else {}
        self.log.info("hanging up: %s", reason)
        await self.emit({"type": "hang_up", "reason": reason, "at_ms": int(self.now_ms), **detail})
        try:
            await self._hang_up(reason)
        except Exception:
            self.log.exception("hang_up callback failed")

    async def close(self, reason: str) -> None:
        """End of the call: close OpenAI, finalise the recording, report metrics, usage and the end reason."""
        if self._closed:
            return
        self._closed = True
        self.end_reason = self.end_reason or reason
        with contextlib.suppress(Exception):
            await self._realtime.close()
        duration = max(self.now_ms, self._callee_end_ms)
        if self._flush_task is not None:
            await asyncio.gather(self._flush_task, return_exceptions=True)
        path = await self.recorder.close(int(duration))
        await self.emit(self.metrics.to_event(duration))
        await self.emit(self.metrics.usage_event())
        await self.emit({"type": "end", "reason": self.end_reason, "duration_ms": int(duration),
                          "recording": str(path)})
        self.log.info("call closed: %s", self.end_reason)
        self._done.set()

    async def fail_ai(self, why: str) -> None:
        if self._ai_failed or self._closed:
            return
        self._ai_failed = True
        self.end_reason = self.end_reason or AI_UNAVAILABLE
        self.log.warning("OpenAI unavailable: %s", why)
        await self.emit({"type": "ai_unavailable", "at_ms": int(self.now_ms), "detail": why})
        self._done.set()

    async def send_ai(self, event: dict[str, Any]) -> None:
        if self._ai_failed or self._closed:
            return
        try:
            await self._realtime.send(event)
        except Exception as exc:
            await self.fail_ai(f"send failed ({type(exc).__name__})")

    async def _send_twilio(self, frame: dict[str, Any]) -> None:
        try:
            await self._twilio(frame)
        except Exception as exc:
            # The Twilio socket is going away; the consumer's disconnect will close the relay.
            self.log.warning("could not send %s to Twilio: %s", frame.get("event"), type(exc).__name__)

    async def emit(self, event: dict[str, Any]) -> None:
        try:
            await self._on_event(event)
        except Exception:
            # Persistence trouble must not drop the live call.
            self.log.exception("on_event failed for %s", event.get("type"))

