"""A fake OpenAI REST server on 127.0.0.1 for post-call processing, spoken to by the real `openai` SDK.

It checks what the real service checks: Bearer auth (401), the transcription upload (multipart `file` that must
be readable audio, at most 25 MB -> 413; a known `model`; ISO-639-1 `language`; `response_format`;
`timestamp_granularities[]` only with verbose_json), and for chat completions a strict `json_schema`
response_format. Every request is recorded for assertions.

Transcriptions are scripted by *tones*: a test writes each utterance as a sine tone and maps its frequency to the
words in `voices` (recorded speech, whose pitch says little, is told apart by its voiced length in `phrases`, with
pauses up to `max_gap_s` inside one utterance); the fake finds the non-silent stretches of whatever audio it receives, measures each one's
pitch and answers verbose_json segments with those words and those times. So the answer depends only on the audio
(which channel, which chunk), never on the order of requests. `canned_transcription` answers every request with
a fixed body instead (for benchmarks).

Speech (`/v1/audio/speech`, JSON) checks `model`, `voice` (a built-in name or `{"id": ...}`), `input` (1 to 4096
characters), `response_format`, `speed` and `instructions` (not with tts-1) as the service does, refuses unknown
parameters, and answers `pcm` (24 kHz 16-bit mono little-endian) or `wav` of a tone about as long as the text takes to
say (SPEECH_MS_PER_CHAR); its pitch depends on the voice, so a test can tell which voice rendered a line. The other
formats (mp3, opus...) the service has are not rendered by the fake: 400.

Chat completions answer by `chat_scenario`: "answer" (the JSON of `chat_answer`, one key per schema property, null
when not given; with `chat_heard`, only when the request's messages contain those words), "refusal"
(`message.refusal`) or "invalid" (JSON that does not parse). `fail_next(endpoint, n, status)` makes the next n
requests to an endpoint fail first (500/503 ...).
"""
from __future__ import annotations

import asyncio
import io
import json
import math
import re
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

API_KEY = "sk-test-openai-fake"
MAX_FILE_BYTES = 25 * 1024 * 1024
STT_MODELS = {"whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"}
VERBOSE_JSON_MODELS = {"whisper-1"}
RESPONSE_FORMATS = {"json", "text", "srt", "verbose_json", "vtt"}
FRAME_SECONDS = 0.02
VOICED_RMS = 300.0
MAX_GAP_SECONDS = 0.2
TRANSCRIPTIONS = "transcriptions"
CHAT = "chat"
SPEECH = "speech"
TTS_MODELS = {"tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15"}
TTS_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar", "fable", "onyx",
              "nova")
SPEECH_FORMATS = {"mp3", "opus", "aac", "flac", "wav", "pcm"}
SPEECH_PARAMS = {"model", "input", "voice", "instructions", "response_format", "speed", "stream_format"}
SPEECH_MS_PER_CHAR = 65  # about 15 characters a second of speech
SPEECH_RATE = 24_000


@dataclass
class RecordedRequest:
    endpoint: str
    headers: dict[str, str]
    fields: dict[str, Any]
    file_name: str = ""
    file_bytes: int = 0
    status: int = 200
    answer: Any = None


@dataclass
class OpenAIRestFake:
    api_key: str = API_KEY
    max_file_bytes: int = MAX_FILE_BYTES
    voices: dict[float, str] = field(default_factory=dict)
    default_words: str | None = None  # what real speech (matching no tone in `voices` nor `phrases`) is heard as
    phrases: dict[float, str] = field(default_factory=dict)  # recorded speech: its voiced length (s) -> its words
    max_gap_s: float = MAX_GAP_SECONDS  # a longer pause ends an utterance (one segment)
    canned_transcription: dict[str, Any] | None = None
    chat_scenario: str = "answer"
    chat_answer: dict[str, Any] = field(default_factory=dict)
    chat_heard: str | None = None  # given, chat_answer only for a conversation that contains these words
    refusal: str = "I'm sorry, I can't help with that request."
    # What every chat answer reports having used, in the API's shape (cached tokens are part of prompt_tokens).
    chat_usage: dict[str, Any] = field(default_factory=lambda: {
        "prompt_tokens": 1200, "completion_tokens": 80, "total_tokens": 1280,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0}})
    requests: list[RecordedRequest] = field(default_factory=list)
    port: int = 0
    _failures: dict[str, list[int]] = field(default_factory=lambda: {TRANSCRIPTIONS: [], CHAT: [], SPEECH: []})

    # --- lifecycle -------------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> OpenAIRestFake:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="openai-rest-fake", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> OpenAIRestFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self) -> None:
        app = web.Application(client_max_size=4 * MAX_FILE_BYTES)  # so that we, not aiohttp, answer 413
        app.router.add_post("/v1/audio/transcriptions", self._transcriptions)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/audio/speech", self._speech)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    # --- scripting -------------------------------------------------------------------------------------------
    def fail_next(self, endpoint: str, count: int, status: int = 503) -> None:
        self._failures[endpoint].extend([status] * count)

    def of(self, endpoint: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint == endpoint]

    # --- transcriptions --------------------------------------------------------------------------------------
    async def _transcriptions(self, request: web.Request) -> web.Response:
        record = RecordedRequest(TRANSCRIPTIONS, dict(request.headers), {})
        self.requests.append(record)
        if denied := self._deny(request, record):
            return denied
        form = await request.post()
        record.fields = {k: v for k, v in form.items() if isinstance(v, str)}
        record.fields["timestamp_granularities[]"] = form.getall("timestamp_granularities[]", [])
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return _error(record, 400, "You must provide a file.", param="file")
        audio = upload.file.read()
        record.file_name, record.file_bytes = upload.filename, len(audio)
        if problem := self._check_transcription(record, audio):
            return problem
        if failure := self._scripted_failure(TRANSCRIPTIONS, record):
            return failure
        body = self.canned_transcription or self._transcribe(audio, record.fields.get("language", ""))
        record.answer = body
        return web.json_response(body)

    def _check_transcription(self, record: RecordedRequest, audio: bytes) -> web.Response | None:
        fields = record.fields
        if len(audio) > self.max_file_bytes:
            return _error(record, 413, f"Maximum content size limit ({self.max_file_bytes}) exceeded "
                                       f"({len(audio)} bytes read)", kind="server_error")
        model = fields.get("model", "")
        if model not in STT_MODELS:
            return _error(record, 400, f"Invalid model {model!r}.", param="model")
        if "language" in fields and not re.fullmatch(r"[a-z]{2}", fields["language"]):
            return _error(record, 400, f"Invalid language {fields['language']!r}: use ISO-639-1.", param="language")
        response_format = fields.get("response_format", "json")
        if response_format not in RESPONSE_FORMATS:
            return _error(record, 400, f"Invalid response_format {response_format!r}.", param="response_format")
        if response_format == "verbose_json" and model not in VERBOSE_JSON_MODELS:
            return _error(record, 400, f"response_format 'verbose_json' is not compatible with {model}.",
                          param="response_format")
        if fields["timestamp_granularities[]"] and response_format != "verbose_json":
            return _error(record, 400, "timestamp_granularities requires response_format=verbose_json.",
                          param="timestamp_granularities")
        if _samples(audio) is None:
            return _error(record, 400, "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', "
                                       "'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']", param="file")
        return None

    def _transcribe(self, audio: bytes, language: str) -> dict[str, Any]:
        samples, rate = _samples(audio)  # type: ignore[misc]
        segments = []
        for index, (start, end) in enumerate(_voiced(samples, rate, self.max_gap_s)):
            pitch = _pitch(samples[int(start * rate): int(end * rate)], rate)
            segments.append({
                "id": index, "seek": 0, "start": round(start, 2), "end": round(end, 2),
                "text": " " + self._words_for(pitch, end - start), "tokens": [], "temperature": 0.0,
                "avg_logprob": -0.2, "compression_ratio": 1.1, "no_speech_prob": 0.01,
            })
        seconds = round(len(samples) / rate, 2)
        # whisper-1 bills the audio's length, which it reports as `usage` of type duration (whole seconds, up).
        return {"task": "transcribe", "language": {"es": "spanish", "en": "english"}.get(language, language),
                "duration": seconds, "text": "".join(s["text"] for s in segments).strip(),
                "segments": segments, "usage": {"type": "duration", "seconds": math.ceil(seconds)}}

    def _words_for(self, pitch: float, seconds: float) -> str:
        """A tone's words by its pitch (`voices`), a recording's by its length (`phrases`), else the default."""
        for known, value in ((self.voices, pitch), (self.phrases, seconds)):
            nearest = min(known, key=lambda key: abs(key - value), default=None)
            if nearest is not None and abs(nearest - value) <= 0.1 * nearest:
                return known[nearest]
        return self.default_words or f"[tone {pitch:.0f} Hz]"

    # --- chat completions ------------------------------------------------------------------------------------
    async def _chat(self, request: web.Request) -> web.Response:
        record, refused = await self._json_request(request, CHAT, _check_chat)
        if refused:
            return refused
        message = self._chat_message(record.fields["response_format"]["json_schema"]["schema"],
                                     json.dumps(record.fields["messages"], ensure_ascii=False))
        record.answer = message
        return web.json_response({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": record.fields["model"], "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
            "usage": self.chat_usage,
        })

    def _chat_message(self, schema: dict[str, Any], conversation: str) -> dict[str, Any]:
        base = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
        if self.chat_scenario == "refusal":
            return {**base, "refusal": self.refusal}
        if self.chat_scenario == "invalid":
            return {**base, "content": '{"place": "Madrid", "budget": '}
        # Strict structured output always carries every property; unknown ones are the caller's problem.
        heard = self.chat_heard is None or self.chat_heard in conversation
        answer = self.chat_answer if heard else {}
        return {**base, "content": json.dumps({name: answer.get(name) for name in schema["properties"]})}

    # --- speech ----------------------------------------------------------------------------------------------
    async def _speech(self, request: web.Request) -> web.Response:
        record, refused = await self._json_request(request, SPEECH, _check_speech)
        if refused:
            return refused
        body = record.fields
        voice = body["voice"] if isinstance(body["voice"], str) else body["voice"]["id"]
        pcm = speech_pcm(body["input"], voice, float(body.get("speed", 1.0)))
        if body.get("response_format", "mp3") == "pcm":
            return web.Response(body=pcm, content_type="application/octet-stream")
        out = io.BytesIO()
        with wave.open(out, "wb") as wav:
            wav.setnchannels(1), wav.setsampwidth(2), wav.setframerate(SPEECH_RATE)
            wav.writeframes(pcm)
        return web.Response(body=out.getvalue(), content_type="audio/wav")

    # --- shared ----------------------------------------------------------------------------------------------
    async def _json_request(self, request: web.Request, endpoint: str,
                            check: Callable[[RecordedRequest], web.Response | None],
                            ) -> tuple[RecordedRequest, web.Response | None]:
        """Record a JSON request to `endpoint`; the refusal the service would answer it with (auth, a body that
        does not parse, `check`, a scripted failure), or None."""
        record = RecordedRequest(endpoint, dict(request.headers), {})
        self.requests.append(record)
        if denied := self._deny(request, record):
            return record, denied
        try:
            record.fields = await request.json()
        except json.JSONDecodeError:
            return record, _error(record, 400, "We could not parse the JSON body of your request.")
        return record, check(record) or self._scripted_failure(endpoint, record)

    def _deny(self, request: web.Request, record: RecordedRequest) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(record, 401, "Incorrect API key provided.", code="invalid_api_key")
        return None

    def _scripted_failure(self, endpoint: str, record: RecordedRequest) -> web.Response | None:
        if not self._failures[endpoint]:
            return None
        status = self._failures[endpoint].pop(0)
        return _error(record, status, "The server had an error while processing your request. Sorry about that!",
                      kind="server_error")


def _check_chat(record: RecordedRequest) -> web.Response | None:
    body = record.fields
    if not body.get("model") or not body.get("messages"):
        return _error(record, 400, "model and messages are required.")
    response_format = body.get("response_format") or {}
    if response_format.get("type") != "json_schema":
        return _error(record, 400, "this fake only answers structured outputs (response_format json_schema).")
    spec = response_format.get("json_schema") or {}
    schema = spec.get("schema") or {}
    if spec.get("strict") is not True or not spec.get("name"):
        return _error(record, 400, "json_schema must have a name and strict: true.", param="response_format")
    properties = schema.get("properties") or {}
    strict = (schema.get("type") == "object" and schema.get("additionalProperties") is False
              and sorted(schema.get("required") or []) == sorted(properties))
    if not strict:
        return _error(record, 400, "Invalid schema for response_format: in strict mode every property must be "
                                   "required and additionalProperties must be false.", param="response_format")
    return None


def _check_speech(record: RecordedRequest) -> web.Response | None:
    body = record.fields
    if not isinstance(body, dict):
        return _error(record, 400, "The body must be a JSON object.")
    if unknown := sorted(set(body) - SPEECH_PARAMS):
        return _error(record, 400, f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0])
    for name in ("model", "input", "voice"):
        if name not in body:
            return _error(record, 400, f"Missing required parameter: '{name}'.", param=name)
    if body["model"] not in TTS_MODELS:
        return _error(record, 400, f"Invalid model {body['model']!r}.", param="model")
    text = body["input"]
    if not isinstance(text, str) or not text.strip() or len(text) > 4096:
        return _error(record, 400, "input must be a string of 1 to 4096 characters.", param="input")
    voice = body["voice"]
    if not (voice in TTS_VOICES or (isinstance(voice, dict) and set(voice) == {"id"}
                                    and str(voice["id"]).startswith("voice_"))):
        return _error(record, 400, f"Invalid value for 'voice': {voice!r}.", param="voice")
    response_format = body.get("response_format", "mp3")
    if response_format not in SPEECH_FORMATS:
        return _error(record, 400, f"Invalid value for 'response_format': {response_format!r}.",
                      param="response_format")
    if response_format not in {"pcm", "wav"}:
        return _error(record, 400, f"this fake renders pcm and wav only, not {response_format}.",
                      param="response_format")
    speed = body.get("speed", 1.0)
    if not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4.0:
        return _error(record, 400, "speed must be between 0.25 and 4.0.", param="speed")
    if "instructions" in body and body["model"] in {"tts-1", "tts-1-hd"}:
        return _error(record, 400, f"instructions are not supported by {body['model']}.", param="instructions")
    if body.get("stream_format", "audio") not in {"audio", "sse"}:
        return _error(record, 400, "stream_format must be audio or sse.", param="stream_format")
    return None


def speech_pitch(voice: str) -> float:
    """The pitch of the fake's rendering of `voice` (Hz): one per built-in voice, 200 Hz for custom ones."""
    return 300.0 + 25.0 * TTS_VOICES.index(voice) if voice in TTS_VOICES else 200.0


def speech_pcm(text: str, voice: str, speed: float = 1.0) -> bytes:
    """What the fake says for `text`: a tone of `voice`'s pitch, SPEECH_MS_PER_CHAR a character (24 kHz PCM)."""
    count = int(len(text) * SPEECH_MS_PER_CHAR / speed * SPEECH_RATE / 1000)
    wave_ = 6000 * np.sin(2 * np.pi * speech_pitch(voice) * np.arange(count) / SPEECH_RATE)
    return wave_.astype("<i2").tobytes()


def _error(record: RecordedRequest, status: int, message: str, *, kind: str = "invalid_request_error",
           param: str | None = None, code: str | None = None) -> web.Response:
    record.status = status
    return web.json_response({"error": {"message": message, "type": kind, "param": param, "code": code}},
                             status=status)


def _samples(audio: bytes) -> tuple[np.ndarray, int] | None:
    try:
        with wave.open(io.BytesIO(audio), "rb") as wav:
            if wav.getsampwidth() != 2:
                return None
            channels, rate = wav.getnchannels(), wav.getframerate()
            data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    except (wave.Error, EOFError):
        return None
    return data.reshape(-1, channels).mean(axis=1), rate


def voiced_seconds(samples: np.ndarray, rate: int, max_gap_s: float = MAX_GAP_SECONDS) -> float:
    """How long the voiced part of `samples` lasts, from its first sound to its last (what `phrases` are keyed by,
    for speech said as one utterance)."""
    regions = _voiced(samples, rate, max_gap_s)
    return regions[-1][1] - regions[0][0] if regions else 0.0


def _voiced(samples: np.ndarray, rate: int, max_gap_s: float) -> list[tuple[float, float]]:
    size = int(rate * FRAME_SECONDS)
    count = len(samples) // size
    frames = samples[: count * size].astype(np.float64).reshape(count, size)
    loud = np.sqrt((frames ** 2).mean(axis=1)) > VOICED_RMS
    regions: list[list[float]] = []
    for index in np.flatnonzero(loud):
        start, end = index * FRAME_SECONDS, (index + 1) * FRAME_SECONDS
        if regions and start - regions[-1][1] <= max_gap_s:
            regions[-1][1] = end
        else:
            regions.append([start, end])
    return [(a, b) for a, b in regions if b - a >= 0.1]


def _pitch(samples: np.ndarray, rate: int) -> float:
    signs = np.signbit(samples)
    crossings = np.count_nonzero(signs[1:] != signs[:-1])
    return crossings * rate / (2 * max(1, len(samples)))
