"""Per-call settings and the OpenAI Realtime (GA) client events the relay sends.

Everything here is a plain dict in the GA wire shape (PROTOCOLS.md section 5; the `*_param.py` types of the
installed `openai` package): `session.update` with `session.type = "realtime"`, `audio.input/output.format =
audio/pcmu` so Twilio's bytes pass through untouched, `input_audio_buffer.append`, `conversation.item.create`
(a `function_call_output`), `conversation.item.truncate` and `response.create`.
The GA session has no `temperature`; the prototype's 0.6 has no place to go.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, Literal

PCMU = {"type": "audio/pcmu"}


@dataclass(frozen=True)
class TurnDetection:
    """Server-side voice activity detection; the defaults are the prototype's."""

    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: float = 0.9
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 800
    eagerness: Literal["low", "medium", "high", "auto"] = "auto"
    create_response: bool = True
    interrupt_response: bool = True

    def to_wire(self) -> dict[str, Any]:
        common = {"type": self.type, "create_response": self.create_response,
                  "interrupt_response": self.interrupt_response}
        if self.type == "semantic_vad":
            return {**common, "eagerness": self.eagerness}
        return {**common, "threshold": self.threshold, "prefix_padding_ms": self.prefix_padding_ms,
                "silence_duration_ms": self.silence_duration_ms}


@dataclass(frozen=True)
class RelaySettings:
    """What one call's relay needs to know; built by `calls.agent_config.relay_settings` from AI/ and settings."""

    instructions: str
    opening_instruction: str
    goodbye_instruction: str
    wrap_up_instruction: str = ""
    silence_prompt_instruction: str = ""
    silence_goodbye_instruction: str = ""
    voicemail_instruction: str = ""
    transfer_instruction: str = ""  # the hand-off line, said before transfer_call moves the call to a person
    transfer_reasons: tuple[str, ...] = ()  # transfer_call's configured reasons (their numbers stay Django-side)
    wait_for_amd: bool = False  # silent, and deaf, until answering-machine detection says a person answered
    amd_wait_s: float = 0.0  # with wait_for_amd: no verdict after this long, greet as if `unknown` (0: wait on)
    voice: str = "coral"
    turn_detection: TurnDetection = field(default_factory=TurnDetection)
    transcription_model: str = "whisper-1"
    transcription_language: str = "es"  # ISO-639-1; "" lets the transcription detect the language
    transcription_prompt: str = ""
    tools: tuple[dict[str, Any], ...] = ()
    duration_limit_s: float = 0.0  # 0 = no limit
    grace_s: float = 15.0  # after the wrap-up instruction, hang up whatever the model does
    silence_timeout_s: float = 0.0  # 0 = never prompt a silent callee
    input_gain_db: float | None = None  # None = pass the callee's bytes through untouched
    goodbye_mark_cap_s: float = 10.0  # hang up this long after the goodbye even if Twilio never confirms it
    tool_filler_instruction: str = ""  # said while a tool is slow to answer; empty: nothing
    keypad_message: str = ""  # the user message for a key pressed (`{digit}`); empty: keys stay off the model
    # The opening line already rendered in the bot's voice (8 kHz mu-law; `cached_opening`), and its text: played at
    # `start` instead of asking the model for it. Empty: the model says `opening_instruction`.
    opening_audio: bytes = field(default=b"", repr=False)
    opening_line: str = ""


def session_update(settings: RelaySettings) -> dict[str, Any]:
    transcription = {"model": settings.transcription_model}
    if settings.transcription_language:  # GA: an absent language is detected from the audio
        transcription["language"] = settings.transcription_language
    if settings.transcription_prompt:
        transcription["prompt"] = settings.transcription_prompt
    return {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "instructions": settings.instructions,
            "output_modalities": ["audio"],
            "audio": {
                "input": {"format": PCMU, "turn_detection": settings.turn_detection.to_wire(),
                          "transcription": transcription},
                "output": {"format": PCMU, "voice": settings.voice},
            },
            "tools": [dict(tool) for tool in settings.tools],
        },
    }


def audio_append(audio: bytes) -> dict[str, Any]:
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode("ascii")}


def response_create(settings: RelaySettings, instructions: str | None = None) -> dict[str, Any]:
    if not instructions:
        return {"type": "response.create"}
    # Per-response instructions replace the session's, so keep the persona in front of them.
    return {"type": "response.create", "response": {"instructions": f"{settings.instructions}\n\n{instructions}"}}


def message_item(role: str, text: str) -> dict[str, Any]:
    """A text message added to the conversation: the callee's key presses (user), a staff whisper (system)."""
    return {"type": "conversation.item.create",
            "item": {"type": "message", "role": role, "content": [{"type": "input_text", "text": text}]}}


def function_call_output(call_id: str, output: dict[str, Any]) -> dict[str, Any]:
    item = {"type": "function_call_output", "call_id": call_id, "output": json.dumps(output)}
    return {"type": "conversation.item.create", "item": item}


def truncate(item_id: str, audio_end_ms: int) -> dict[str, Any]:
    return {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
            "audio_end_ms": audio_end_ms}
