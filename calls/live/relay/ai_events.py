"""What the relay does with each OpenAI Realtime (GA) server event.

Events are read by attribute (`event.type`, `event.item_id`, ...), so both the SDK's typed models and plain
namespaces from an in-memory double fit. Acted on: `error`, `input_audio_buffer.speech_started` /
`speech_stopped`, `conversation.item.input_audio_transcription.completed`, `response.created`,
`response.output_audio.delta`, `response.output_audio_transcript.done`, `response.function_call_arguments.done`
and `response.done` (usage). Anything else is ignored.
"""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from . import session
from .reasons import BOT_HANGUP, DURATION_LIMIT, FATAL_ERROR_CODES

if TYPE_CHECKING:
    from .relay import Relay

Handler = Callable[["Relay", Any], Awaitable[None]]
END_CALL_TOOL = "end_call"


async def dispatch(relay: Relay, event: Any) -> None:
    handler = _HANDLERS.get(str(getattr(event, "type", "")))
    if handler is not None:
        await handler(relay, event)
    await relay.tick()


async def _on_error(relay: Relay, event: Any) -> None:
    error = getattr(event, "error", None)
    code = str(getattr(error, "code", "") or "")
    message = str(getattr(error, "message", "") or "")
    relay.log.warning("OpenAI error %s: %s", code or getattr(error, "type", "?"), message[:300])
    await relay.emit({"type": "ai_error", "at_ms": int(relay.now_ms), "code": code, "message": message[:500]})
    if code == "conversation_already_has_active_response":
        relay.response_refused()
    if code in FATAL_ERROR_CODES:
        await relay.fail_ai(f"fatal error {code}")


async def _on_speech_started(relay: Relay, event: Any) -> None:
    now = relay.now_ms
    relay.callee_speaking = True
    relay.timers.callee_spoke(now)
    relay.transcript.speech_started(event.item_id, int(getattr(event, "audio_start_ms", now)))
    if relay.playback.busy:
        await relay.barge_in(now)


async def _on_speech_stopped(relay: Relay, event: Any) -> None:
    now = relay.now_ms
    relay.callee_speaking = False
    relay.timers.callee_spoke(now)
    relay.transcript.speech_stopped(event.item_id, int(getattr(event, "audio_end_ms", now)))
    relay.metrics.callee_stopped(now)


async def _on_input_transcription(relay: Relay, event: Any) -> None:
    turn = relay.transcript.callee_said(event.item_id, str(event.transcript or ""), int(relay.now_ms))
    await relay.emit(turn.to_event())


async def _on_response_created(relay: Relay, event: Any) -> None:
    relay.responding = True
    ending = relay.timers.ending
    if ending is not None and ending.requested and ending.response_id is None:
        ending.response_id = getattr(event.response, "id", None)


async def _on_audio_delta(relay: Relay, event: Any) -> None:
    audio = decode_audio(event.delta)
    if audio is None:
        relay.log.warning("ignored an output audio delta that is not base64")
        return
    await relay.send_audio_to_twilio(item_id=event.item_id, response_id=event.response_id, audio=audio)


async def _on_audio_transcript_done(relay: Relay, event: Any) -> None:
    now = relay.now_ms
    start, end = relay.playback.item_span(event.item_id) or (now, now)
    turn = relay.transcript.bot_said(event.item_id, str(event.transcript or ""), start, end)
    await relay.emit(turn.to_event())


async def _on_function_call(relay: Relay, event: Any) -> None:
    if event.name != END_CALL_TOOL:
        relay.log.warning("the model called an unknown tool %r", str(event.name)[:60])
        await relay.send_ai(session.function_call_output(event.call_id, {"error": "unknown tool"}))
        return
    arguments = parse_arguments(event.arguments)
    await relay.send_ai(session.function_call_output(event.call_id, {"ok": True}))
    reason = DURATION_LIMIT if relay.timers.wrapped_up else BOT_HANGUP
    detail = {"tool_reason": str(arguments.get("reason", ""))[:200]}
    await relay.begin_goodbye(reason, relay.settings.goodbye_instruction, detail)


async def _on_response_done(relay: Relay, event: Any) -> None:
    response = getattr(event, "response", None)
    usage = as_dict(getattr(response, "usage", None))
    relay.metrics.add_usage(usage)
    ending = relay.timers.ending
    if ending is not None and ending.response_id is not None and ending.response_id == getattr(response, "id", None):
        ending.response_done = True
    await relay.response_finished()
    await relay.finish_goodbye_if_played()


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


_HANDLERS: dict[str, Handler] = {
    "error": _on_error,
    "input_audio_buffer.speech_started": _on_speech_started,
    "input_audio_buffer.speech_stopped": _on_speech_stopped,
    "conversation.item.input_audio_transcription.completed": _on_input_transcription,
    "response.created": _on_response_created,
    "response.output_audio.delta": _on_audio_delta,
    "response.output_audio_transcript.done": _on_audio_transcript_done,
    "response.function_call_arguments.done": _on_function_call,
    "response.done": _on_response_done,
}
