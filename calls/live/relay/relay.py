"""The relay: one live call between a Twilio Media Stream and an OpenAI Realtime (GA) session.

Twilio -> OpenAI: `start` opens the session (`session.update`, then the bot speaks first with `response.create`; or,
with a cached opening, its recording plays at once and the model gets the line as an assistant item: `cached_opening`);
`media` audio is appended untouched (pcmu both sides) and recorded; `mark` confirms bot audio played; `dtmf` goes to
the timeline (and, keypad on, to the model as a user item: `keypad`); `stop` closes. OpenAI -> Twilio (`run()`):
`response.output_audio.delta` becomes a Twilio `media` frame followed by a `mark`;
`input_audio_buffer.speech_started` while bot audio is queued is a barge-in (`clear`, `conversation.item.truncate`
at what was heard, recording cut); `end_call` leads to a goodbye and a hang-up once its mark returns (or at a cap),
`transfer_call` to the hand-off line and then the move to a person (`handoff`); any other declared tool runs as a
task through the injected `run_tool` (`tool_calls`), its answer sent back as a `function_call_output` followed by a
`response.create` (a filler line said meanwhile when it is slow). `answered_by` acts on answering-machine detection
(`voicemail`). Also acted on: `error`, `speech_stopped`, both transcripts, `response.created`,
`response.output_audio.done` and `response.done` (the last mark, usage); any other OpenAI event is ignored.
Both sides dispatch through a table from the wire's type name to a bound method, built once per relay: it lists what
is handled. Pure asyncio: no Django here; persistence goes out through `on_event` as the events of `events.py`.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from calls.live import media

from . import cached_opening, session
from .ai_events import END_CALL_TOOL, RealtimeConnection, as_dict, decode_audio, parse_arguments
from .bot_audio import BotAudio, SendToTwilio
from .calllog import CallLogger
from .handoff import TRANSFER_TOOL, transfer_reason
from .events import (AiError, AiUnavailable, AmdWaitOver, BargeIn, Dtmf, HangUp, RelayEvent, StreamEnded, ToolCalled,
                     TranscriptTurn)
from .keypad import keypad_item
from .mulaw import gain_table
from .reasons import (AI_UNAVAILABLE, BOT_HANGUP, CALLEE_HANGUP, DURATION_LIMIT, FATAL_ERROR_CODES, SILENCE,
                      TRANSFERRED, VOICEMAIL)
from .recorder import Recorder
from .response_queue import ResponseQueue, ResponseRequest
from .timers import CallTimers, Due, Ending
from .tool_calls import FILLER_AFTER_S, TOOL_TIMEOUT_S, UNKNOWN_TOOL, RunTool, ToolCall, tool_answer
from .transcript import Metrics, Transcript
from .voicemail import AmdAction, amd_action

log = logging.getLogger(__name__)

OnEvent = Callable[[RelayEvent], Awaitable[None]]
RequestHangUp = Callable[[str], Awaitable[None]]
Handler = Callable[[Any], Awaitable[None]]

# Twilio stamps callee audio on the stream's clock, which keeps pace with ours. A frame claiming to be further ahead
# than this is garbage, and placing it would make the recorder hold the whole gap as silence in memory.
MAX_MEDIA_AHEAD_MS = 60_000
REALTIME_CLOSE_TIMEOUT_S = 2.0


class Relay:
    """Relays one call; see the module docstring. The consumer forwards frames and awaits `run()`."""

    def __init__(
        self, *, send_to_twilio: SendToTwilio, realtime: RealtimeConnection, settings: session.RelaySettings,
        recorder: Recorder, on_event: OnEvent, hang_up: RequestHangUp, clock: Callable[[], float] = time.monotonic,
        call_sid: str = "-", tick_s: float = 0.25, started_at: float | None = None, run_tool: RunTool | None = None,
        tool_timeout_s: float = TOOL_TIMEOUT_S, filler_after_s: float = FILLER_AFTER_S,
    ) -> None:
        self._realtime, self.settings = realtime, settings
        self.recorder, self._on_event, self._hang_up, self._clock = recorder, on_event, hang_up, clock
        self.log = CallLogger(log, call_sid)
        self.recorder.log = self.log
        self._tick_s = tick_s
        self._run_tool, self._tool_timeout_s, self._filler_after_s = run_tool, tool_timeout_s, filler_after_s
        self._tool_names = {str(tool.get("name")) for tool in settings.tools} - {END_CALL_TOOL}
        self._tool_tasks: set[asyncio.Task] = set()
        self._gain = gain_table(settings.input_gain_db) if settings.input_gain_db else None
        self.bot_audio = BotAudio(send_to_twilio=send_to_twilio, recorder=recorder, log=self.log)
        self._t0: float | None = None
        # `clock()` when Twilio's start frame arrived, if the consumer handled it late (it opens OpenAI first):
        # Twilio's media timestamps count from then, so the bot's audio must too.
        self._started_at = started_at
        self.transcript, self.metrics = Transcript(), Metrics()
        self.timers = CallTimers(duration_limit_s=settings.duration_limit_s, grace_s=settings.grace_s,
                                 silence_timeout_s=settings.silence_timeout_s,
                                 amd_wait_s=settings.amd_wait_s if settings.wait_for_amd else 0.0)
        self.responses = ResponseQueue()
        self.end_reason: str | None = None
        self._callee_speaking = False
        # Waiting for answering-machine detection: the callee's audio is recorded, not sent (no reply to a machine).
        self._awaiting_amd = settings.wait_for_amd
        self._hung_up = self._closed = self._ai_failed = False
        self._done = asyncio.Event()
        self._timers_moved = asyncio.Event()  # a deadline came closer: the ticker recomputes its sleep
        self._twilio_handlers: dict[str, Handler] = {
            "start": self._on_twilio_start, "media": self._on_twilio_media, "mark": self._on_twilio_mark,
            "dtmf": self._on_twilio_dtmf, "stop": self._on_twilio_stop,
        }
        self._ai_handlers: dict[str, Handler] = {
            "error": self._on_ai_error,
            "input_audio_buffer.speech_started": self._on_speech_started,
            "input_audio_buffer.speech_stopped": self._on_speech_stopped,
            "conversation.item.input_audio_transcription.completed": self._on_callee_transcript,
            "response.created": self._on_response_created,
            "response.output_audio.delta": self._on_audio_delta,
            "response.output_audio.done": self._on_audio_done,
            "response.output_audio_transcript.done": self._on_bot_transcript,
            "response.function_call_arguments.done": self._on_function_call,
            "response.done": self._on_response_done,
        }

    @property
    def stream_sid(self) -> str | None:
        return self.bot_audio.stream_sid

    @property
    def now_ms(self) -> float:
        """Milliseconds on the call clock (since Twilio's `start`)."""
        return 0.0 if self._t0 is None else round((self._clock() - self._t0) * 1000, 3)

    # ---- Twilio -> relay ------------------------------------------------------------------------------------------
    async def handle_twilio_frame(self, raw: str | bytes | BaseModel) -> None:
        """One inbound Twilio frame (raw text, or already parsed by `calls.live.media.parse_frame`).

        The callee's audio, 50 frames a second, takes `media.read_media`'s fast path; anything else, or anything
        unusual about a media frame, goes through `parse_frame`, which refuses what is malformed."""
        if self.stream_sid is not None and not isinstance(raw, BaseModel):
            chunk = media.read_media(raw)
            if chunk is not None:
                await self._callee_audio(chunk.timestamp, chunk.audio)
                return
        try:
            frame = raw if isinstance(raw, BaseModel) else media.parse_frame(raw)
        except media.MalformedFrame as exc:
            self.log.warning("ignored Twilio frame: %s", exc)
            return
        if self.stream_sid is None and not isinstance(frame, (media.StartFrame, media.ConnectedFrame)):
            self.log.warning("ignored Twilio %s frame before start", getattr(frame, "event", "?"))
            return
        handler = self._twilio_handlers.get(str(getattr(frame, "event", "")))
        if handler is not None:
            await handler(frame)

    async def _on_twilio_start(self, frame: media.StartFrame) -> None:
        if self.stream_sid is not None:
            self.log.warning("ignored a second start frame")
            return
        self.bot_audio.stream_sid = frame.streamSid
        self._t0 = self._started_at if self._started_at is not None else self._clock()
        self._timers_moved.set()
        self.log.call_sid = frame.start.callSid
        self.log.info("stream %s started", frame.streamSid)
        if self.settings.opening_audio:
            await self._play_cached_opening()
            return
        await self._send_ai(session.session_update(self.settings))
        if not self._awaiting_amd:
            await self._request_response(self.settings.opening_instruction)

    async def _play_cached_opening(self) -> None:
        """The opening line from its recording, at once (OpenAI may still be connecting); then the model is told
        what was said, and answers the callee's first turn."""
        now = self.now_ms
        for chunk in cached_opening.chunks(self.settings.opening_audio):
            await self.bot_audio.play(now_ms=now, stream_ms=self.recorder.sending_ms(now),
                                      item_id=cached_opening.OPENING_ITEM_ID,
                                      response_id=cached_opening.OPENING_RESPONSE_ID, audio=chunk)
        await self.bot_audio.mark_sent()
        self.metrics.bot_audio_sent(now)
        await self._send_ai(session.session_update(self.settings))
        await self._send_ai(cached_opening.assistant_item(self.settings.opening_line))
        start, end = self.bot_audio.playback.item_span(cached_opening.OPENING_ITEM_ID) or (now, now)
        await self._emit_turn(self.transcript.bot_said(cached_opening.OPENING_ITEM_ID, self.settings.opening_line,
                                                       start, end))

    async def _on_twilio_media(self, frame: media.MediaFrame) -> None:
        await self._callee_audio(frame.media.timestamp, frame.media.audio)

    async def _callee_audio(self, timestamp: int, audio: bytes) -> None:
        if timestamp > self.now_ms + MAX_MEDIA_AHEAD_MS:
            self.log.warning("ignored media stamped %d ms, far ahead of the call clock", timestamp)
            return
        self.recorder.add_callee(timestamp, audio, now_ms=self.now_ms)
        if self._awaiting_amd:
            return
        if self._gain is not None:
            audio = audio.translate(self._gain)
        await self._send_ai(session.audio_append(audio))

    async def _on_twilio_mark(self, frame: media.MarkFrame) -> None:
        if self.bot_audio.confirm(frame.mark.name, stream_ms=self.recorder.between_frames_ms(self.now_ms)):
            self.timers.activity(self.now_ms)
        await self._finish_goodbye_if_played()

    async def _on_twilio_dtmf(self, frame: media.DtmfFrame) -> None:
        self.timers.callee_spoke(self.now_ms)
        await self._emit(Dtmf(digit=frame.dtmf.digit, at_ms=int(self.now_ms)))
        item = keypad_item(self.settings.keypad_message, frame.dtmf.digit) if self.settings.keypad_message else None
        if item is not None and not self._hung_up and self.timers.ending is None:
            await self._send_ai(item)
            await self._request_response(None)  # several keys in a row share one queued response

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
            handler = self._ai_handlers.get(str(getattr(event, "type", "")))
            try:
                if handler is not None:
                    await handler(event)
            except Exception:
                # One odd event must not end the call; the connection itself is still fine.
                self.log.exception("could not handle OpenAI event %s", getattr(event, "type", "?"))
        if not self._closed:
            await self._fail_ai("the Realtime connection ended mid-call")

    async def _on_ai_error(self, event: Any) -> None:
        error = getattr(event, "error", None)
        code = str(getattr(error, "code", "") or "")
        message = str(getattr(error, "message", "") or "")
        self.log.warning("OpenAI error %s: %s", code or getattr(error, "type", "?"), message[:300])
        await self._emit(AiError(at_ms=int(self.now_ms), code=code, message=message[:500]))
        if code == "conversation_already_has_active_response":
            self.responses.refused()
        if code in FATAL_ERROR_CODES:
            await self._fail_ai(f"fatal error {code}")

    async def _on_speech_started(self, event: Any) -> None:
        now = self.now_ms
        self._callee_speaking = True
        self.timers.callee_spoke(now)
        self.transcript.speech_started(event.item_id, int(getattr(event, "audio_start_ms", now)))
        if self.bot_audio.busy:
            await self._barge_in(now)

    async def _on_speech_stopped(self, event: Any) -> None:
        now = self.now_ms
        self._callee_speaking = False
        self.timers.callee_spoke(now)
        self.transcript.speech_stopped(event.item_id, int(getattr(event, "audio_end_ms", now)))
        self.metrics.callee_stopped(now)

    async def _on_callee_transcript(self, event: Any) -> None:
        await self._emit_turn(self.transcript.callee_said(event.item_id, str(event.transcript or ""),
                                                          int(self.now_ms)))

    async def _on_response_created(self, event: Any) -> None:
        self.responses.created(getattr(event.response, "id", None))

    async def _on_audio_delta(self, event: Any) -> None:
        audio = decode_audio(event.delta)
        if audio is None:
            self.log.warning("ignored an output audio delta that is not base64")
            return
        now = self.now_ms
        if not self._hung_up and await self.bot_audio.play(
                now_ms=now, stream_ms=self.recorder.sending_ms(now), item_id=event.item_id,
                response_id=event.response_id, audio=audio):
            self.metrics.bot_audio_sent(now)

    async def _on_audio_done(self, event: Any) -> None:
        await self.bot_audio.mark_sent()

    async def _on_bot_transcript(self, event: Any) -> None:
        now = self.now_ms
        start, end = self.bot_audio.playback.item_span(event.item_id) or (now, now)
        await self._emit_turn(self.transcript.bot_said(event.item_id, str(event.transcript or ""), start, end))

    async def _on_function_call(self, event: Any) -> None:
        if event.name == TRANSFER_TOOL:
            await self._begin_transfer(event)
            return
        if event.name != END_CALL_TOOL:
            await self._start_tool(event)
            return
        arguments = parse_arguments(event.arguments)
        await self._send_ai(session.function_call_output(event.call_id, {"ok": True}))
        reason = DURATION_LIMIT if self.timers.wrapped_up else BOT_HANGUP
        tool_reason = str(arguments.get("reason", ""))[:200]
        await self._begin_goodbye(reason, self.settings.goodbye_instruction, tool_reason=tool_reason)

    async def _begin_transfer(self, event: Any) -> None:
        """transfer_call: the hand-off line, then (once it played) the consumer moves the call (`handoff`)."""
        reason, answer = transfer_reason(parse_arguments(event.arguments), self.settings.transfer_reasons)
        await self._send_ai(session.function_call_output(event.call_id, answer))
        if reason is None:
            self.log.warning("transfer_call refused: %s", answer["error"])
            await self._request_response(None)
            return
        self.log.info("transferring to a person: %s", reason)
        await self._begin_goodbye(TRANSFERRED, self.settings.transfer_instruction, tool_reason=reason)

    async def _start_tool(self, event: Any) -> None:
        name = str(event.name)
        if self._run_tool is None or name not in self._tool_names:
            self.log.warning("the model called an unknown tool %r", name[:60])
            await self._send_ai(session.function_call_output(event.call_id, UNKNOWN_TOOL))
            return
        call = ToolCall(name=name, arguments=parse_arguments(event.arguments), call_id=str(event.call_id),
                        at_ms=int(self.now_ms))
        task = asyncio.create_task(self._tool_run(call))  # audio never waits for a tool
        self._tool_tasks.add(task)
        task.add_done_callback(self._tool_tasks.discard)

    async def _tool_run(self, call: ToolCall) -> None:
        """Run one tool, answer the model with its result and have it go on (one response at a time)."""
        started = self._clock()
        answer = asyncio.ensure_future(tool_answer(self._run_tool, call, timeout_s=self._tool_timeout_s))
        filler = await self._filler_while(answer)
        result = await answer
        duration_ms = int((self._clock() - started) * 1000)
        filler_said = filler is not None and not self.responses.withdraw(filler)  # too late: not said
        if "error" in result:
            self.log.warning("tool %s: %s", call.name, str(result["error"])[:200])
        else:
            self.log.info("tool %s answered in %d ms", call.name, duration_ms)
        await self._send_ai(session.function_call_output(call.call_id, result))
        await self._emit(ToolCalled(name=call.name, arguments=call.arguments, result=result,
                                    duration_ms=duration_ms, at_ms=call.at_ms, filler=filler_said))
        if not self._hung_up and self.timers.ending is None:
            await self._request_response(None)

    async def _filler_while(self, answer: asyncio.Future) -> ResponseRequest | None:
        """If the tool has not answered within `filler_after_s`, the bot says the filler line meanwhile (queued
        behind the response in flight, like any other); returns that request."""
        if not self.settings.tool_filler_instruction:
            return None
        done, _ = await asyncio.wait({answer}, timeout=self._filler_after_s)
        if done or self._hung_up or self.timers.ending is not None:
            return None
        filler = ResponseRequest(self.settings.tool_filler_instruction)
        await self._send_response(self.responses.request(filler))
        return filler

    async def _on_response_done(self, event: Any) -> None:
        response = getattr(event, "response", None)
        self.metrics.add_usage(as_dict(getattr(response, "usage", None)))
        await self.bot_audio.mark_sent()  # also when no `output_audio.done` came before
        await self._send_response(self.responses.done(getattr(response, "id", None)))
        await self._finish_goodbye_if_played()

    async def answered_by(self, answered_by: str, *, leave_message: bool) -> None:
        """Answering-machine detection's verdict (`voicemail`): greet a person if still waiting; on a machine, stop
        talking and hang up, or first leave the voicemail line (`leave_message`) in the bot's own voice."""
        action = amd_action(answered_by, leave_message=leave_message)
        self.log.info("answered by %s: %s", answered_by[:30], action.value)
        self.timers.amd_verdict()
        if action is AmdAction.GREET:
            if self._awaiting_amd:
                self._awaiting_amd = False
                await self._request_response(self.settings.opening_instruction)
            return
        self._awaiting_amd = True  # a machine: nothing it says is answered
        await self._cut_bot_audio(self.now_ms)
        if self.responses.in_flight:
            await self._send_ai({"type": "response.cancel"})
        if action is AmdAction.LEAVE_MESSAGE:
            await self._begin_goodbye(VOICEMAIL, self.settings.voicemail_instruction)
        else:
            await self.hang_up(VOICEMAIL)

    async def _amd_wait_over(self) -> None:
        """No verdict within `amd_wait_s`: greet as if detection said `unknown` (a later verdict of a machine still
        stops the bot, as with AMD_GREETING=at_once), and say so on the call's timeline."""
        waited = self.settings.amd_wait_s
        self.log.info("no answering-machine verdict after %g s: greeting", waited)
        await self._emit(AmdWaitOver(at_ms=int(self.now_ms), waited_s=waited,
                                     note=f"no answering-machine verdict after {waited:g} s; greeted"))
        if self._awaiting_amd:
            self._awaiting_amd = False
            await self._request_response(self.settings.opening_instruction)

    # ---- clocks ---------------------------------------------------------------------------------------------------
    async def _tick_forever(self) -> None:
        while True:
            self._timers_moved.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._until_next_tick()):
                    await self._timers_moved.wait()
            await self.tick()

    def _until_next_tick(self) -> float:
        """Seconds to the next timer's deadline, or `tick_s` if that is sooner (or already past and not acted on:
        the silence clock waits for the conversation to fall idle, and the recorder is kept up every tick)."""
        if self._t0 is None:
            return self._tick_s
        wait = (self.timers.next_deadline_ms() - self.now_ms) / 1000
        return wait if 0 < wait < self._tick_s else self._tick_s

    async def tick(self) -> None:
        """Act on whatever timer is due and keep the recorder writing. `run()` calls it at each timer's deadline
        and at least every `tick_s`, never per frame: the timers live on the call clock, not on traffic."""
        if self._t0 is None or self._closed:
            return
        now = self.now_ms
        self.recorder.keep_up(now)
        if self._hung_up:
            return
        # Waiting for answering-machine detection is not silence: nobody is asked "are you there?" meanwhile.
        idle = not (self._awaiting_amd or self.responses.in_flight or self.bot_audio.busy or self._callee_speaking)
        due = self.timers.due(now, conversation_idle=idle)
        if due is Due.AMD_WAIT_OVER:
            await self._amd_wait_over()
        elif due is Due.HANG_UP_GOODBYE and self.timers.ending:
            await self.hang_up(self.timers.ending.reason)
        elif due is Due.HARD_STOP:
            await self.hang_up(DURATION_LIMIT)
        elif due is Due.WRAP_UP and self.settings.wrap_up_instruction:
            await self._request_response(self.settings.wrap_up_instruction)
        elif due is Due.SILENCE_PROMPT:
            await self._request_response(self.settings.silence_prompt_instruction)
        elif due is Due.SILENCE_END:
            await self._begin_goodbye(SILENCE, self.settings.silence_goodbye_instruction)

    # ---- actions --------------------------------------------------------------------------------------------------
    async def _barge_in(self, now: float) -> None:
        """The callee spoke over queued bot audio: drop it at Twilio, tell the model what was heard."""
        interruption = await self._cut_bot_audio(now)
        if interruption is None:
            return
        self.metrics.barge_ins += 1
        await self._emit(BargeIn(at_ms=int(now), item_id=interruption.item_id,
                                 audio_end_ms=interruption.audio_end_ms))
        await self._finish_goodbye_if_played()

    async def _cut_bot_audio(self, now: float) -> Any:
        """Drop the bot audio queued at Twilio and truncate its item at what was heard; the interruption, if any."""
        interruption = await self.bot_audio.interrupt(now, stream_ms=self.recorder.sending_ms(now))
        # The cached opening is a text item, with no audio to truncate.
        if interruption is not None and interruption.item_id != cached_opening.OPENING_ITEM_ID:
            await self._send_ai(session.truncate(interruption.item_id, interruption.audio_end_ms))
        return interruption

    async def _begin_goodbye(self, reason: str, instruction: str, *, tool_reason: str | None = None) -> None:
        """Say goodbye, then hang up when its audio has played (or after the cap)."""
        if self.timers.ending is not None or self._hung_up:
            return
        deadline = self.now_ms + self.settings.goodbye_mark_cap_s * 1000
        self.timers.ending = Ending(reason=reason, deadline_ms=deadline, tool_reason=tool_reason)
        self._timers_moved.set()
        await self._request_response(instruction, goodbye=True)

    async def _finish_goodbye_if_played(self) -> None:
        ending = self.timers.ending
        if ending is not None and self.responses.goodbye_done and not self.bot_audio.busy:
            await self.hang_up(ending.reason)

    async def _request_response(self, instructions: str | None, *, goodbye: bool = False) -> None:
        await self._send_response(self.responses.request(ResponseRequest(instructions, goodbye)))

    async def _send_response(self, request: ResponseRequest | None) -> None:
        if request is not None:
            await self._send_ai(session.response_create(self.settings, request.instructions))

    async def hang_up(self, reason: str) -> None:
        """Ask the consumer to end the call (once); `close()` follows when Twilio stops the stream."""
        if self._hung_up:
            return
        self._hung_up = True
        self.end_reason = self.end_reason or reason
        tool_reason = self.timers.ending.tool_reason if self.timers.ending else None
        self.log.info("hanging up: %s", reason)
        await self._emit(HangUp(reason=reason, at_ms=int(self.now_ms), tool_reason=tool_reason))
        try:
            await self._hang_up(reason)
        except Exception:
            self.log.exception("hang_up callback failed")

    async def whisper(self, text: str) -> None:
        """A staff member's instruction for the bot's next turn: a system item, no response asked for."""
        self.log.info("staff whisper to the bot (%d characters)", len(text))
        await self._send_ai(session.message_item("system", text))

    async def close(self, reason: str) -> None:
        """End of the call: close OpenAI, finalise the recording, report metrics, usage and the end reason."""
        if self._closed:
            return
        self._closed = True
        self.end_reason = self.end_reason or reason
        if self._tool_tasks:  # their events come before StreamEnded, unless a tool is slow (its write still happens)
            await asyncio.wait(set(self._tool_tasks), timeout=min(self._tool_timeout_s, REALTIME_CLOSE_TIMEOUT_S))
        # Bounded: a slow closing handshake with OpenAI must not hold up the recording and StreamEnded, which the
        # server may not wait for (Daphne cancels a consumer some seconds after its socket has gone).
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._realtime.close(), REALTIME_CLOSE_TIMEOUT_S)
        # The stream's length on Twilio's clock, not ours: a loaded process handles `stop` late.
        duration = self.recorder.stream_ms(self.now_ms)
        self.bot_audio.settle()
        path = await self.recorder.close(int(duration))
        await self._emit(self.metrics.report(duration))
        await self._emit(self.metrics.usage_report())
        await self._emit(StreamEnded(reason=self.end_reason, duration_ms=int(duration), recording=path))
        self.log.info("call closed: %s", self.end_reason)
        self._done.set()

    async def _fail_ai(self, why: str) -> None:
        if self._ai_failed or self._closed:
            return
        self._ai_failed = True
        self.end_reason = self.end_reason or AI_UNAVAILABLE
        self.log.warning("OpenAI unavailable: %s", why)
        await self._emit(AiUnavailable(at_ms=int(self.now_ms), detail=why))
        self._done.set()

    async def _send_ai(self, event: dict[str, Any]) -> None:
        if self._ai_failed or self._closed:
            return
        try:
            await self._realtime.send(event)
        except Exception as exc:
            await self._fail_ai(f"send failed ({type(exc).__name__})")

    async def _emit_turn(self, turn: TranscriptTurn | None) -> None:
        if turn is not None:
            await self._emit(turn)

    async def _emit(self, event: RelayEvent) -> None:
        try:
            await self._on_event(event)
        except Exception:
            # Persistence trouble must not drop the live call.
            self.log.exception("on_event failed for %s", type(event).__name__)
