"""In-memory doubles for the relay tests: a fake clock, a Realtime connection, and a harness (frames come from simulator.twilio_frames)."""
from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar, get_args

from calls.live.relay import Recorder, Relay, RelaySettings
from calls.live.relay.events import RelayEvent
from simulator.twilio_frames import TOKEN, TwilioFrames

_CLOSED = object()
E = TypeVar("E")


class FakeClock:
    """Seconds, like `loop.time`; tests move it by hand."""

    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, ms: float) -> None:
        self.now += ms / 1000


def namespace(value: Any) -> Any:
    """A server event as the SDK would hand it over: attributes all the way down."""
    if isinstance(value, dict):
        return SimpleNamespace(**{key: namespace(item) for key, item in value.items()})
    if isinstance(value, list):
        return [namespace(item) for item in value]
    return value


class FakeRealtime:
    """Shaped like openai's AsyncRealtimeConnection: `send(dict)`, `async for event in conn`, `close()`."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed = False
        self.fail_sends = False
        self._events: asyncio.Queue[Any] = asyncio.Queue()

    async def send(self, event: dict[str, Any]) -> None:
        if self.fail_sends:
            raise ConnectionResetError("socket gone")
        self.sent.append(json.loads(json.dumps(event)))

    def push(self, event: dict[str, Any]) -> None:
        self._events.put_nowait(namespace(event))

    def drop(self) -> None:
        self._events.put_nowait(ConnectionResetError("dropped"))

    async def __aiter__(self) -> Any:
        while True:
            item = await self._events.get()
            if item is _CLOSED:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    async def close(self) -> None:
        self.closed = True
        self._events.put_nowait(_CLOSED)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.sent if event["type"] == kind]


def settings(**overrides: Any) -> RelaySettings:
    base: dict[str, Any] = dict(
        instructions="Eres Lucía.", opening_instruction="Saluda.", goodbye_instruction="Despídete.",
        wrap_up_instruction="Resume y despídete.", silence_prompt_instruction="¿Sigue ahí?",
        silence_goodbye_instruction="Adiós, problemas de línea.",
        tools=({"type": "function", "name": "end_call", "description": "Termina",
                "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}}},),
    )
    return RelaySettings(**{**base, **overrides})


class Harness:
    """A Relay wired to doubles, with its `run()` pump going; every helper lets the loop settle."""

    def __init__(self, tmp_path: Path, *, clock: Callable[[], float] | None = None, run_tool: Any = None,
                 tool_timeout_s: float = 5.0, filler_after_s: float = 1.0, **setting_overrides: Any) -> None:
        """`clock`: the relay's (a `FakeClock` by default; `time.monotonic` to let its timers fire on their own);
        `run_tool`: the relay's tool runner (none: every tool but end_call is unknown)."""
        self.clock = clock or FakeClock()
        self.framer = TwilioFrames()
        self.ai = FakeRealtime()
        self.to_twilio: list[dict[str, Any]] = []
        self.events: list[RelayEvent] = []
        self.hang_ups: list[str] = []
        self.recording = tmp_path / "call.wav"
        self.relay = Relay(
            send_to_twilio=self._twilio, realtime=self.ai, settings=settings(**setting_overrides),
            recorder=Recorder(self.recording), on_event=self._event, hang_up=self._hang_up, clock=self.clock,
            call_sid="pending", tick_s=3600, run_tool=run_tool, tool_timeout_s=tool_timeout_s,
            filler_after_s=filler_after_s,
        )
        self.run_task: asyncio.Task[str | None] | None = None

    async def _twilio(self, frame: dict[str, Any]) -> None:
        self.to_twilio.append(frame)

    async def _event(self, event: RelayEvent) -> None:
        assert isinstance(event, get_args(RelayEvent)), f"the relay emitted an unknown event {event!r}"
        self.events.append(event)

    async def _hang_up(self, reason: str) -> None:
        self.hang_ups.append(reason)

    async def __aenter__(self) -> Harness:
        self.run_task = asyncio.create_task(self.relay.run())
        await settle()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.relay.close("callee_hangup")
        assert self.run_task is not None
        await asyncio.wait_for(self.run_task, 2)

    async def frame(self, frame: dict[str, Any] | str) -> None:
        await self.relay.handle_twilio_frame(frame if isinstance(frame, str) else json.dumps(frame))
        await settle()

    async def start(self) -> None:
        await self.frame(self.framer.connected())
        await self.frame(self.framer.start({"token": TOKEN}))

    async def media(self, timestamp: int, audio: bytes) -> None:
        await self.frame(self.framer.media(timestamp, audio))

    async def mark(self, name: str) -> None:
        await self.frame(self.framer.mark(name))

    async def server(self, *events: dict[str, Any]) -> None:
        for event in events:
            self.ai.push(event)
        await settle()

    async def tick(self) -> None:
        await self.relay.tick()
        await settle()

    def twilio_of(self, kind: str) -> list[dict[str, Any]]:
        return [frame for frame in self.to_twilio if frame["event"] == kind]

    def events_of(self, kind: type[E]) -> list[E]:
        return [event for event in self.events if isinstance(event, kind)]


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def b64(audio: bytes) -> str:
    return base64.b64encode(audio).decode("ascii")


def delta(audio: bytes, *, item_id: str = "item_bot1", response_id: str = "resp_1") -> dict[str, Any]:
    return {"type": "response.output_audio.delta", "event_id": "ev", "response_id": response_id,
            "item_id": item_id, "output_index": 0, "content_index": 0, "delta": b64(audio)}


def response_created(response_id: str) -> dict[str, Any]:
    return {"type": "response.created", "event_id": "ev", "response": {"id": response_id, "status": "in_progress"}}


def response_done(response_id: str, **usage: Any) -> dict[str, Any]:
    return {"type": "response.done", "event_id": "ev",
            "response": {"id": response_id, "status": "completed", "output": [], "usage": usage or None}}


def speech_started(item_id: str = "item_user1", at_ms: int = 0) -> dict[str, Any]:
    return {"type": "input_audio_buffer.speech_started", "event_id": "ev", "item_id": item_id,
            "audio_start_ms": at_ms}


def speech_stopped(item_id: str = "item_user1", at_ms: int = 0) -> dict[str, Any]:
    return {"type": "input_audio_buffer.speech_stopped", "event_id": "ev", "item_id": item_id, "audio_end_ms": at_ms}


def end_call(response_id: str = "resp_1", reason: str = "informacion_completa") -> dict[str, Any]:
    return function_call("end_call", {"reason": reason}, response_id=response_id)


def function_call(name: str, arguments: dict[str, Any], *, response_id: str = "resp_1",
                  call_id: str = "call_1") -> dict[str, Any]:
    return {"type": "response.function_call_arguments.done", "event_id": "ev", "response_id": response_id,
            "item_id": "item_fc", "output_index": 0, "call_id": call_id, "name": name,
            "arguments": json.dumps(arguments)}
