"""What the relay reports through its `on_event` sink: one frozen dataclass per kind of event.

The consumer saves each through `calls.services.streaming.call_relay_event_record`, which matches on the class.
Times are milliseconds on the call clock (since Twilio's `start`). No Django here: the relay stays pure asyncio.

- `TranscriptTurn`: a line of the live transcript, the callee's or the bot's.
- `Dtmf`, `BargeIn`, `AiError`, `AiUnavailable`, `HangUp`, `ToolCalled`, `AmdWaitOver`: moments on the call's
  timeline.
- `CallMetrics`, `TokenUsage`: reported once, when the call closes.
- `StreamEnded`: the last event of every call: why it ended and where its recording is.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class TranscriptTurn:
    speaker: Literal["callee", "bot"]
    text: str
    start_ms: int
    end_ms: int
    item_id: str


@dataclass(frozen=True)
class Dtmf:
    digit: str
    at_ms: int


@dataclass(frozen=True)
class BargeIn:
    """The callee spoke over the bot: its queued audio was cleared, the item truncated at what was heard."""

    at_ms: int
    item_id: str
    audio_end_ms: int


@dataclass(frozen=True)
class AiError:
    """An `error` event from the Realtime API (the call goes on unless the code is fatal)."""

    at_ms: int
    code: str
    message: str


@dataclass(frozen=True)
class AiUnavailable:
    """The Realtime session is gone: the call ends with an apology."""

    at_ms: int
    detail: str


@dataclass(frozen=True)
class HangUp:
    """The relay asked to end the call; `tool_reason` is the model's own, when it called `end_call`."""

    reason: str
    at_ms: int
    tool_reason: str | None = None


@dataclass(frozen=True)
class ToolCalled:
    """The model called one of its tools (not `end_call`): what it asked, what it was answered, how long it took."""

    name: str
    arguments: dict[str, Any]
    result: dict[str, Any]
    duration_ms: int
    at_ms: int
    filler: bool = False  # the bot said the filler line while it ran


@dataclass(frozen=True)
class AmdWaitOver:
    """AMD_GREETING=wait, and no answering-machine verdict came within `waited_s` (none may ever come: several web
    processes without a shared channel layer): the bot greeted as if detection had said `unknown`."""

    at_ms: int
    waited_s: float
    note: str


@dataclass(frozen=True)
class CallMetrics:
    duration_ms: int
    response_latency_ms: tuple[int, ...]  # callee stops speaking -> first bot audio sent, per reply
    response_latency_mean_ms: int | None
    response_latency_max_ms: int | None
    barge_ins: int
    first_words_ms: int | None = None  # Twilio's `start` -> the first bot audio sent to Twilio


@dataclass(frozen=True)
class TokenUsage:
    """Token counts summed over every `response.done`, nested as the API reports them."""

    responses: int
    tokens: dict[str, Any]


@dataclass(frozen=True)
class StreamEnded:
    reason: str
    duration_ms: int
    recording: Path


RelayEvent = (TranscriptTurn | Dtmf | BargeIn | AiError | AiUnavailable | HangUp | ToolCalled | AmdWaitOver
              | CallMetrics | TokenUsage | StreamEnded)
