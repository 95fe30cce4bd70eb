"""A fake OpenAI Realtime (GA) websocket server on 127.0.0.1 that the real `openai` SDK connects to.

    scenario = RealtimeScenario(callee_turns=[CalleeTurn(after_ms=400, speech_ms=600, transcript="Hola")],
                                replies=[Reply("Hola, buenas."), Reply(end_call="informacion_completa")])
    async with FakeRealtimeServer(scenario) as server:
        client = AsyncOpenAI(api_key=server.api_key, base_url=server.base_url)
        async with client.realtime.connect(model="gpt-realtime-mini") as conn: ...
        server.received / server.errors / await server.wait_for("response.create")

Handshake as the real service: `GET /v1/realtime?model=...` with `Authorization: Bearer <key>`; a wrong or
missing key is refused with 401, the beta header with 400, everything with 503 when `refuse_connections` is set;
`connect_delay_s` answers each handshake that late (the real service's connect time).
Every client event is checked against the GA shapes (strict: unknown event types, unknown or beta parameters such
as `input_audio_format`, missing fields and bad base64 are answered with an `error` event, as the service does)
and recorded (a `message` item: `input_text` from the user or system, `output_text` from the assistant). Scripted
behaviour: server VAD "hears" the callee after a given amount of appended audio
(speech_started/stopped, committed, input transcription, then an automatic response); `response.create` is
answered with real pcmu audio deltas, a transcript and `response.done` with usage, or with a function call
(`end_call`, or any tool the session declared; a `function_call_output` must name a call the model made); the socket drops after N responses on cue (`drop_after_responses`) or when told (`await server.drop()`).

A script per callee: `FakeRealtimeServer(scenario, voices={330.0: RealtimeScenario(...), ...})` recognises who
is on the line by their voice, as a transcriber would: the first `VOICE_MS` of appended input audio is listened to
and, when it is a pure tone within 3 % of a key of `voices` (the simulated phone of that number plays it, see
simulator/phone.py), that session follows that scenario from its first response (the opening waits for the
voice); any other audio (real speech, silence) gets `scenario`. `server.voices_heard` lists what each session picked.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from calls.live.relay.mulaw import decode, tone

# ---- the GA client events, strictly -------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Event(_Strict):
    event_id: str | None = None


class AudioFormat(_Strict):
    type: Literal["audio/pcm", "audio/pcmu", "audio/pcma"]
    rate: Literal[24000] | None = None


class ServerVad(_Strict):
    type: Literal["server_vad"]
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    prefix_padding_ms: int = Field(300, ge=0)
    silence_duration_ms: int = Field(500, ge=0)
    create_response: bool = True
    interrupt_response: bool = True
    idle_timeout_ms: int | None = None


class SemanticVad(_Strict):
    type: Literal["semantic_vad"]
    eagerness: Literal["low", "medium", "high", "auto"] = "auto"
    create_response: bool = True
    interrupt_response: bool = True


class Transcription(_Strict):
    model: str
    language: Annotated[str, Field(pattern=r"^[a-z]{2}$")] | None = None  # ISO-639-1, or absent: detected
    prompt: str | None = None


class AudioInput(_Strict):
    format: AudioFormat | None = None
    turn_detection: Annotated[ServerVad | SemanticVad, Field(discriminator="type")] | None = None
    transcription: Transcription | None = None
    noise_reduction: dict[str, Any] | None = None


class AudioOutput(_Strict):
    format: AudioFormat | None = None
    voice: str | None = None
    speed: float | None = None


class Audio(_Strict):
    input: AudioInput | None = None
    output: AudioOutput | None = None


class FunctionTool(_Strict):
    type: Literal["function"]
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Session(_Strict):
    type: Literal["realtime"]
    model: str | None = None
    instructions: str | None = None
    output_modalities: list[Literal["audio", "text"]] | None = Field(None, min_length=1, max_length=1)
    audio: Audio | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    max_output_tokens: int | Literal["inf"] | None = None
    tracing: Any = None
    truncation: Any = None
    include: list[str] | None = None


class SessionUpdate(_Event):
    type: Literal["session.update"]
    session: Session


class AudioAppend(_Event):
    type: Literal["input_audio_buffer.append"]
    audio: str

    @field_validator("audio")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("audio is not valid base64") from None
        return value


class BufferCommand(_Event):
    type: Literal["input_audio_buffer.commit", "input_audio_buffer.clear", "output_audio_buffer.clear"]


class InputText(_Strict):
    type: Literal["input_text"]
    text: str


class OutputText(_Strict):
    type: Literal["output_text"]
    text: str


class Message(_Strict):
    type: Literal["message"]
    role: Literal["user", "system", "assistant"]
    content: list[InputText | OutputText] = Field(min_length=1)
    id: str | None = Field(None, max_length=32)

    @model_validator(mode="after")
    def _content_fits_role(self) -> "Message":
        wanted = "output_text" if self.role == "assistant" else "input_text"
        if any(part.type != wanted for part in self.content):
            raise ValueError(f"a {self.role} message's content must be {wanted}")
        return self


class FunctionCallOutput(_Strict):
    type: Literal["function_call_output"]
    call_id: str
    output: str
    id: str | None = None


class ItemCreate(_Event):
    type: Literal["conversation.item.create"]
    previous_item_id: str | None = None
    item: Annotated[Message | FunctionCallOutput, Field(discriminator="type")]


class ItemTruncate(_Event):
    type: Literal["conversation.item.truncate"]
    item_id: str
    content_index: int = Field(ge=0)
    audio_end_ms: int = Field(ge=0)


class ItemById(_Event):
    type: Literal["conversation.item.delete", "conversation.item.retrieve"]
    item_id: str


class ResponseParams(_Strict):
    instructions: str | None = None
    output_modalities: list[Literal["audio", "text"]] | None = None
    conversation: str | None = None
    metadata: dict[str, str] | None = None
    input: list[dict[str, Any]] | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    max_output_tokens: int | Literal["inf"] | None = None
    audio: dict[str, Any] | None = None


class ResponseCreate(_Event):
    type: Literal["response.create"]
    response: ResponseParams | None = None


class ResponseCancel(_Event):
    type: Literal["response.cancel"]
    response_id: str | None = None


ClientEvent = Annotated[
    SessionUpdate | AudioAppend | BufferCommand | ItemCreate | ItemTruncate | ItemById | ResponseCreate
    | ResponseCancel,
    Field(discriminator="type"),
]
_client_events: TypeAdapter[ClientEvent] = TypeAdapter(ClientEvent)
_ERROR_CODES = {"missing": "missing_required_parameter", "extra_forbidden": "unknown_parameter",
                "union_tag_invalid": "invalid_value", "literal_error": "invalid_value"}


_TAGS = {"server_vad", "semantic_vad", "message", "function_call_output"}


def validation_error(exc: ValidationError) -> tuple[str, str, str]:
    """(code, param, message) in the service's words for the first problem."""
    first = exc.errors(include_input=False)[0]
    parts = [str(part) for part in first["loc"][1:] if str(part) not in _TAGS]
    param = ".".join(parts) or "type"
    code = _ERROR_CODES.get(first["type"], "invalid_value")
    if code == "unknown_parameter":
        return code, param, f"Unknown parameter: '{param}'."
    if code == "missing_required_parameter":
        return code, param, f"Missing required parameter: '{param}'."
    return code, param, f"Invalid value for '{param}': {first['msg']}."


# ---- the script ---------------------------------------------------------------------------------------------------


@dataclass
class CalleeTurn:
    """The callee speaks from `after_ms` of appended audio, for `speech_ms`, saying `transcript`."""

    after_ms: int
    speech_ms: int = 600
    transcript: str = "Busco un piso en Madrid, de unos 900 euros."


@dataclass
class Reply:
    """One response: speech (`audio_ms` of tone in `chunk_ms` deltas) or, if `end_call` is set, that tool call, or
    if `tool` is set, (name, arguments) of a call of another tool (one the session must have declared).

    `audio` (pcmu bytes, e.g. recorded speech) replaces the tone; `audio_ms` then follows its length.
    """

    transcript: str = "Hola, buenas. ¿Qué tipo de piso busca?"
    audio_ms: int = 600
    chunk_ms: int = 200
    end_call: str | None = None
    tool: tuple[str, dict[str, Any]] | None = None
    audio: bytes | None = None
    # GA `response.done` usage: cached tokens are part of the input counts, split by modality in their details.
    usage: dict[str, Any] = field(default_factory=lambda: {
        "total_tokens": 1460, "input_tokens": 1200, "output_tokens": 260,
        "input_token_details": {"text_tokens": 900, "audio_tokens": 300, "image_tokens": 0, "cached_tokens": 768,
                                "cached_tokens_details": {"text_tokens": 704, "audio_tokens": 64, "image_tokens": 0}},
        "output_token_details": {"text_tokens": 60, "audio_tokens": 200}})


@dataclass
class RealtimeScenario:
    api_key: str = "sk-fake-realtime"
    refuse_connections: bool = False
    callee_turns: list[CalleeTurn] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=lambda: [Reply()])  # in order; the last one repeats
    drop_after_responses: int | None = None

    def reply(self, index: int) -> Reply:
        return self.replies[min(index, len(self.replies) - 1)]


_BYTES_PER_MS = {"audio/pcmu": 8, "audio/pcma": 8, "audio/pcm": 48}
VOICE_MS = 200  # input audio listened to before the callee's voice picks the session's scenario
VOICE_WAIT_S = 5.0  # a response waits at most this long for the voice (then the default scenario answers)
_VOICE_MATCH = 0.03  # a tone within 3 % of a voice is that voice
_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):06d}"


# ---- the server ---------------------------------------------------------------------------------------------------


class _Session:
    """One websocket's conversation state."""

    def __init__(self, ws: ServerConnection, model: str) -> None:
        self.ws = ws
        self.config: dict[str, Any] = {
            "type": "realtime", "object": "realtime.session", "id": new_id("sess"), "model": model,
            "instructions": "", "output_modalities": ["audio"], "tools": [],
            "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000},
                                "turn_detection": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                                                   "silence_duration_ms": 500, "create_response": True,
                                                   "interrupt_response": True}},
                      "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"}},
        }
        self.audio_ms = 0.0
        self.turn_index = 0
        self.speaking_item: str | None = None
        self.response_task: asyncio.Task[None] | None = None
        self.active_response: str | None = None
        self.item_audio_ms: dict[str, int] = {}  # assistant audio items: how long each is
        self.call_ids: set[str] = set()
        self.last_item: str | None = None
        self.responses_started = 0
        self.scenario: RealtimeScenario | None = None  # the script the callee's voice picked; None: the server's
        self.heard = bytearray()  # the first input audio, until the voice is known
        self.voice_known = asyncio.Event()

    @property
    def input_bytes_per_ms(self) -> int:
        return _BYTES_PER_MS[self.config["audio"]["input"]["format"]["type"]]

    @property
    def turn_detection(self) -> dict[str, Any] | None:
        return self.config["audio"]["input"].get("turn_detection")


def tone_pitch(audio: bytes, kind: str) -> float | None:
    """The frequency of `audio` (input format `kind`) if it is one pure tone; None for speech, noise or silence."""
    if kind == "audio/pcmu":
        samples, rate = np.frombuffer(decode(audio), dtype="<i2"), 8000
    elif kind == "audio/pcm":
        samples, rate = np.frombuffer(audio[: len(audio) // 2 * 2], dtype="<i2"), 24000
    else:
        return None
    samples = samples.astype(np.float64)
    if len(samples) < 64 or np.sqrt(np.mean(samples ** 2)) < 100:
        return None
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    peak = int(np.argmax(spectrum))
    if spectrum[max(0, peak - 3): peak + 4].sum() < 0.8 * spectrum.sum():
        return None  # energy spread over many frequencies: not a tone
    return peak * rate / len(samples)


def _merge(target: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


class FakeRealtimeServer:
    """Start/stop with `async with`; `base_url` goes to `AsyncOpenAI(base_url=...)`."""

    def __init__(self, scenario: RealtimeScenario | None = None, *, connect_delay_s: float = 0.0,
                 voices: dict[float, RealtimeScenario] | None = None) -> None:
        self.scenario = scenario or RealtimeScenario()
        self.connect_delay_s = connect_delay_s  # the service's connect time: each handshake is answered this late
        self.voices: dict[float, RealtimeScenario] = dict(voices or {})  # callee's tone (Hz) -> their script
        self.voices_heard: list[float | None] = []  # per session, in order: the voice recognised (None: default)
        self.received: list[dict[str, Any]] = []  # every client event that was JSON, valid or not
        self.errors: list[dict[str, Any]] = []  # every error event sent
        self.sent: list[dict[str, Any]] = []  # every server event sent
        self.handshakes: list[dict[str, str]] = []  # path and headers of each attempt
        self.refused = 0
        self.sessions: list[_Session] = []
        self.responses_done = 0
        self._server: Server | None = None
        self._changed = asyncio.Condition()

    @property
    def api_key(self) -> str:
        return self.scenario.api_key

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def __aenter__(self) -> FakeRealtimeServer:
        self._server = await serve(self._handle, "127.0.0.1", 0, process_request=self._check_handshake,
                                   max_size=None, ping_interval=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        for session in self.sessions:
            if session.response_task is not None:
                session.response_task.cancel()
        self._server.close()
        await self._server.wait_closed()

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.received if event.get("type") == kind]

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until `count` client events of type `kind` have arrived (or `error` events were sent)."""
        source = self.errors if kind == "error" else None

        def enough() -> bool:
            return len(source if source is not None else self.of_type(kind)) >= count

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(enough), timeout)
        return source if source is not None else self.of_type(kind)

    async def emit(self, event: dict[str, Any]) -> None:
        """Push a server event to every open session (for cues the scenario does not cover)."""
        for session in list(self.sessions):
            await self._send(session, event)

    async def drop(self) -> None:
        """Kill every connection without a closing handshake, like a network failure."""
        for session in self.sessions:
            session.ws.transport.abort()

    # ---- handshake ----
    async def _check_handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.connect_delay_s:
            await asyncio.sleep(self.connect_delay_s)
        self.handshakes.append({"path": request.path, **{k.lower(): v for k, v in request.headers.raw_items()}})
        url = urlsplit(request.path)
        refusal = self._refusal(url.path, parse_qs(url.query), request)
        if refusal is None:
            return None
        self.refused += 1
        status, code, message = refusal
        body = json.dumps({"error": {"type": "invalid_request_error", "code": code, "message": message}})
        response = connection.respond(status, body + "\n")
        response.headers["Content-Type"] = "application/json"
        return response

    def _refusal(self, path: str, query: dict[str, list[str]], request: Request) -> tuple[HTTPStatus, str, str] | None:
        if self.scenario.refuse_connections:
            return HTTPStatus.SERVICE_UNAVAILABLE, "service_unavailable", "The server is overloaded."
        if request.headers.get("Authorization") != f"Bearer {self.scenario.api_key}":
            return HTTPStatus.UNAUTHORIZED, "invalid_api_key", "Incorrect API key provided."
        if path != "/v1/realtime" or not query.get("model"):
            return HTTPStatus.BAD_REQUEST, "invalid_request", "Expected /v1/realtime?model=..."
        if "realtime=v1" in request.headers.get("OpenAI-Beta", ""):
            return HTTPStatus.BAD_REQUEST, "beta_not_supported", "This server speaks the GA protocol only."
        return None

    # ---- one connection ----
    async def _handle(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path).query) if ws.request else {}
        session = _Session(ws, query.get("model", ["gpt-realtime"])[0])
        if not self.voices:
            session.voice_known.set()
        self.sessions.append(session)
        await self._send(session, {"type": "session.created", "session": session.config})
        try:
            async for raw in ws:
                await self._on_message(session, raw)
        except Exception:  # a dropped socket ends the session like the service's
            pass
        finally:
            if session.response_task is not None:
                session.response_task.cancel()

    async def _send(self, session: _Session, event: dict[str, Any]) -> None:
        event = {"event_id": new_id("event"), **event}
        self.sent.append(event)
        if event["type"] == "error":
            self.errors.append(event)
        try:
            await session.ws.send(json.dumps(event))
        except Exception:
            pass
        await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _error(self, session: _Session, code: str, message: str, param: str | None = None,
                     event_id: str | None = None) -> None:
        await self._send(session, {"type": "error", "error": {
            "type": "invalid_request_error", "code": code, "message": message, "param": param,
            "event_id": event_id}})

    async def _on_message(self, session: _Session, raw: str | bytes) -> None:
        if isinstance(raw, bytes):  # client events are JSON text frames
            await self._error(session, "invalid_json", "The message must be a text frame.")
            return
        try:
            data = json.loads(raw)
        except ValueError:
            await self._error(session, "invalid_json", "The message is not valid JSON.")
            return
        self.received.append(data)
        await self._notify()
        if not isinstance(data, dict):
            await self._error(session, "invalid_json", "The message must be a JSON object.")
            return
        try:
            event = _client_events.validate_python(data)
        except ValidationError as exc:
            code, param, message = validation_error(exc)
            await self._error(session, code, message, param, data.get("event_id"))
            return
        await getattr(self, "_on_" + event.type.replace(".", "_"))(session, event)

    # ---- client events ----
    async def _on_session_update(self, session: _Session, event: SessionUpdate) -> None:
        _merge(session.config, event.session.model_dump(exclude_none=True))
        await self._send(session, {"type": "session.updated", "session": session.config})

    async def _on_input_audio_buffer_append(self, session: _Session, event: AudioAppend) -> None:
        audio = base64.b64decode(event.audio)
        session.audio_ms += len(audio) / session.input_bytes_per_ms
        if not session.voice_known.is_set():
            self._listen(session, audio)
        if session.turn_detection is not None:
            await self._run_vad(session)

    async def _on_input_audio_buffer_commit(self, session: _Session, event: BufferCommand) -> None:
        await self._send(session, {"type": "input_audio_buffer.committed", "item_id": new_id("item"),
                                   "previous_item_id": session.last_item})

    async def _on_input_audio_buffer_clear(self, session: _Session, event: BufferCommand) -> None:
        await self._send(session, {"type": "input_audio_buffer.cleared"})

    async def _on_output_audio_buffer_clear(self, session: _Session, event: BufferCommand) -> None:
        await self._send(session, {"type": "output_audio_buffer.cleared", "response_id": session.active_response})

    async def _on_conversation_item_create(self, session: _Session, event: ItemCreate) -> None:
        item = event.item.model_dump(exclude_none=True)
        if isinstance(event.item, FunctionCallOutput) and event.item.call_id not in session.call_ids:
            await self._error(session, "invalid_value", f"Tool call ID '{event.item.call_id}' not found.",
                              "item.call_id", event.event_id)
            return
        item = {"id": item.get("id") or new_id("item"), "object": "realtime.item", "status": "completed", **item}
        await self._send(session, {"type": "conversation.item.added", "previous_item_id": session.last_item,
                                   "item": item})
        session.last_item = item["id"]
        await self._send(session, {"type": "conversation.item.done", "item": item})

    async def _on_conversation_item_truncate(self, session: _Session, event: ItemTruncate) -> None:
        duration = session.item_audio_ms.get(event.item_id)
        if duration is None:
            await self._error(session, "item_not_found", f"Item '{event.item_id}' has no audio.", "item_id",
                              event.event_id)
        elif event.audio_end_ms > duration:
            await self._error(session, "invalid_value", f"audio_end_ms {event.audio_end_ms} exceeds the item's "
                              f"{duration} ms of audio.", "audio_end_ms", event.event_id)
        else:
            session.item_audio_ms[event.item_id] = event.audio_end_ms
            await self._send(session, {"type": "conversation.item.truncated", "item_id": event.item_id,
                                       "content_index": event.content_index, "audio_end_ms": event.audio_end_ms})

    async def _on_conversation_item_delete(self, session: _Session, event: ItemById) -> None:
        await self._send(session, {"type": "conversation.item.deleted", "item_id": event.item_id})

    async def _on_conversation_item_retrieve(self, session: _Session, event: ItemById) -> None:
        await self._error(session, "item_not_found", "Retrieval is not simulated.", "item_id", event.event_id)

    async def _on_response_create(self, session: _Session, event: ResponseCreate) -> None:
        if session.active_response is not None:
            await self._error(session, "conversation_already_has_active_response",
                              f"Conversation already has an active response in progress: "
                              f"{session.active_response}.", None, event.event_id)
            return
        self._start_response(session)

    async def _on_response_cancel(self, session: _Session, event: ResponseCancel) -> None:
        if session.active_response is None:
            await self._error(session, "response_cancel_not_active", "There is no active response.", None,
                              event.event_id)
            return
        await self._cancel_response(session)

    # ---- scripted behaviour ----
    def _script(self, session: _Session) -> RealtimeScenario:
        return session.scenario or self.scenario

    def _listen(self, session: _Session, audio: bytes) -> None:
        """Recognise the callee by the first VOICE_MS of their audio and pick their scenario."""
        session.heard += audio
        if len(session.heard) < VOICE_MS * session.input_bytes_per_ms:
            return
        pitch = tone_pitch(bytes(session.heard), session.config["audio"]["input"]["format"]["type"])
        voice = None if pitch is None else min(self.voices, key=lambda hz: abs(hz - pitch))
        if voice is not None and abs(voice - pitch) > _VOICE_MATCH * voice:
            voice = None
        session.scenario = self.voices.get(voice)
        self.voices_heard.append(voice)
        session.heard.clear()
        session.voice_known.set()

    async def _run_vad(self, session: _Session) -> None:
        turns = self._script(session).callee_turns
        while session.turn_index < len(turns):
            turn = turns[session.turn_index]
            if session.speaking_item is None and session.audio_ms >= turn.after_ms:
                session.speaking_item = new_id("item")
                await self._send(session, {"type": "input_audio_buffer.speech_started", "item_id":
                                           session.speaking_item, "audio_start_ms": turn.after_ms})
                if session.active_response is not None and session.turn_detection.get("interrupt_response"):
                    await self._cancel_response(session)
            if session.speaking_item is None or session.audio_ms < turn.after_ms + turn.speech_ms:
                return
            await self._end_turn(session, turn)

    async def _end_turn(self, session: _Session, turn: CalleeTurn) -> None:
        item_id, session.speaking_item = session.speaking_item, None
        session.turn_index += 1
        await self._send(session, {"type": "input_audio_buffer.speech_stopped", "item_id": item_id,
                                   "audio_end_ms": turn.after_ms + turn.speech_ms})
        await self._send(session, {"type": "input_audio_buffer.committed", "item_id": item_id,
                                   "previous_item_id": session.last_item})
        session.last_item = item_id
        await self._send(session, {"type": "conversation.item.input_audio_transcription.completed",
                                   "item_id": item_id, "content_index": 0, "transcript": turn.transcript,
                                   "usage": {"type": "duration", "seconds": turn.speech_ms / 1000}})
        if session.turn_detection.get("create_response") and session.active_response is None:
            self._start_response(session)

    def _start_response(self, session: _Session) -> None:
        response_id = new_id("resp")
        session.active_response = response_id
        index = session.responses_started  # each call follows the script on its own
        session.responses_started += 1
        session.response_task = asyncio.create_task(self._respond(session, response_id, index))

    async def _cancel_response(self, session: _Session) -> None:
        if session.response_task is not None:
            session.response_task.cancel()
        response_id, session.active_response = session.active_response, None
        await self._send(session, {"type": "response.done", "response": {
            "id": response_id, "object": "realtime.response", "status": "cancelled", "output": [],
            "status_details": {"type": "cancelled", "reason": "turn_detected"}, "usage": None}})

    async def _respond(self, session: _Session, response_id: str, index: int) -> None:
        if not session.voice_known.is_set():
            try:
                await asyncio.wait_for(session.voice_known.wait(), VOICE_WAIT_S)
            except TimeoutError:  # no voice heard in time: the default script answers
                self.voices_heard.append(None)
                session.voice_known.set()
        reply = self._script(session).reply(index)
        response = {"id": response_id, "object": "realtime.response", "status": "in_progress", "output": [],
                    "output_modalities": ["audio"], "conversation_id": "conv_fake", "usage": None}
        await self._send(session, {"type": "response.created", "response": response})
        if reply.end_call is not None:
            item = await self._call_tool(session, response_id, "end_call", {"reason": reply.end_call})
        elif reply.tool is not None:
            item = await self._call_tool(session, response_id, *reply.tool)
        else:
            item = await self._speak(session, response_id, reply)
        session.active_response = None
        await self._send(session, {"type": "response.done", "response": {
            **response, "status": "completed", "output": [item], "usage": reply.usage}})
        self.responses_done += 1
        if self.scenario.drop_after_responses is not None and self.responses_done >= self.scenario.drop_after_responses:
            session.ws.transport.abort()

    async def _call_tool(self, session: _Session, response_id: str, name: str,
                         values: dict[str, Any]) -> dict[str, Any]:
        if name not in {tool.get("name") for tool in session.config.get("tools") or []}:
            # The model only calls the tools the session offers: a script that makes it call another is wrong.
            await self._error(session, "fake_script", f"the script calls {name!r}, a tool the session lacks")
        call_id = new_id("call")
        session.call_ids.add(call_id)
        arguments = json.dumps(values)
        item = {"id": new_id("item"), "object": "realtime.item", "type": "function_call", "status": "completed",
                "call_id": call_id, "name": name, "arguments": arguments}
        where = {"response_id": response_id, "output_index": 0}
        await self._send(session, {"type": "response.output_item.added", **where,
                                   "item": {**item, "status": "in_progress", "arguments": ""}})
        await self._send(session, {"type": "response.function_call_arguments.done", **where,
                                   "item_id": item["id"], "call_id": call_id, "name": name,
                                   "arguments": arguments})
        await self._send(session, {"type": "response.output_item.done", **where, "item": item})
        return item

    async def _speak(self, session: _Session, response_id: str, reply: Reply) -> dict[str, Any]:
        item_id = new_id("item")
        where = {"response_id": response_id, "output_index": 0}
        part = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        item = {"id": item_id, "object": "realtime.item", "type": "message", "role": "assistant",
                "status": "in_progress", "content": []}
        await self._send(session, {"type": "response.output_item.added", **where, "item": item})
        await self._send(session, {"type": "response.content_part.added", **part,
                                   "part": {"type": "audio", "transcript": ""}})
        session.item_audio_ms[item_id] = 0
        for chunk_ms, audio in self._chunks(session, reply):
            await self._send(session, {"type": "response.output_audio.delta", **part,
                                       "delta": base64.b64encode(audio).decode("ascii")})
            session.item_audio_ms[item_id] += chunk_ms
            await asyncio.sleep(0)  # let client events (a barge-in, a cancel) interleave
        await self._send(session, {"type": "response.output_audio.done", **part})
        await self._send(session, {"type": "response.output_audio_transcript.done", **part,
                                   "transcript": reply.transcript})
        content = [{"type": "output_audio", "transcript": reply.transcript}]
        await self._send(session, {"type": "response.content_part.done", **part,
                                   "part": {"type": "audio", "transcript": reply.transcript}})
        item = {**item, "status": "completed", "content": content}
        await self._send(session, {"type": "response.output_item.done", **where, "item": item})
        session.last_item = item_id
        return item

    def _chunks(self, session: _Session, reply: Reply) -> list[tuple[int, bytes]]:
        if reply.audio is None:
            return [(reply.chunk_ms, self._audio(session, reply.chunk_ms)) for _ in range(0, reply.audio_ms,
                                                                                          reply.chunk_ms)]
        step = reply.chunk_ms * 8  # pcmu bytes per chunk
        return [(len(chunk) // 8, chunk) for chunk in (reply.audio[i:i + step]
                                                        for i in range(0, len(reply.audio), step))]

    @staticmethod
    def _audio(session: _Session, duration_ms: int) -> bytes:
        kind = session.config["audio"]["output"]["format"]["type"]
        if kind == "audio/pcmu":
            return tone(duration_ms, 523.0)
        return bytes(duration_ms * _BYTES_PER_MS[kind])
