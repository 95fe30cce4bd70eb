"""OpenAI REST after the call: speech to text and structured extraction. The only importer of `openai` here.

SDK errors become `ProcessingError` with a `permanent` flag: timeouts, connection errors, 429 and 5xx are
transient (the step retries them); other 4xx, refusals and output that does not fit the schema are permanent.
The SDK's own retries are off so that every attempt is counted and timed by the step runner.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any, TypeVar

import openai
import pydantic
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from extraction.exceptions import ProcessingError

log = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)
TRANSIENT_STATUS = {408, 409, 429}


def openai_get_client() -> openai.OpenAI:
    """A client for OPENAI_BASE_URL; raises ImproperlyConfigured when OPENAI_API_KEY is empty."""
    if not settings.OPENAI_API_KEY:
        raise ImproperlyConfigured("OPENAI_API_KEY is not set: post-call transcription and extraction need it.")
    return _client(settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL, settings.OPENAI_REQUEST_TIMEOUT)


@lru_cache(maxsize=4)
def _client(api_key: str, base_url: str, timeout: float) -> openai.OpenAI:
    # Cached per configuration so that a worker reuses its connection pool across calls.
    return openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0)


def transcription_create(*, wav: bytes, filename: str, prompt: str) -> dict[str, Any]:
    """Transcribe one WAV with segment timestamps; returns the verbose_json body as a dict."""
    kwargs: dict[str, Any] = {"prompt": prompt} if prompt else {}
    if settings.TRANSCRIPTION_LANGUAGE:  # MODEL_LANGUAGE=auto: none sent, the language is detected
        kwargs["language"] = settings.TRANSCRIPTION_LANGUAGE
    try:
        result = openai_get_client().audio.transcriptions.create(
            file=(filename, wav, "audio/wav"),
            model=settings.OPENAI_STT_MODEL,
            response_format="verbose_json",
            timestamp_granularities=["segment"],
            **kwargs,
        )
    except openai.OpenAIError as exc:
        raise _processing_error("speech-to-text", exc) from exc
    return result.model_dump()


def structured_parse(*, system: str, user: str, schema: type[ModelT]) -> tuple[ModelT, dict[str, int]]:
    """Ask OPENAI_TEXT_MODEL for an instance of `schema` (strict JSON schema structured output); with the tokens
    the answer used, `{"input", "cached_input", "output"}` (zeros when OpenAI reports none)."""
    try:
        completion = openai_get_client().chat.completions.parse(
            model=settings.OPENAI_TEXT_MODEL,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            response_format=schema,
            temperature=0,
        )
    except pydantic.ValidationError as exc:
        raise ProcessingError(f"the model's answer does not fit {schema.__name__}: {_first_error(exc)}") from exc
    except openai.OpenAIError as exc:
        raise _processing_error("extraction", exc) from exc
    message = completion.choices[0].message
    if message.refusal:
        raise ProcessingError(f"the model refused to extract: {message.refusal}")
    if message.parsed is None:
        raise ProcessingError("the model returned no structured answer")
    return message.parsed, _chat_usage(completion.usage)


def _chat_usage(usage: Any) -> dict[str, int]:
    if usage is None:
        return {"input": 0, "cached_input": 0, "output": 0}
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) or 0
    return {"input": usage.prompt_tokens, "cached_input": cached, "output": usage.completion_tokens}


def transcription_usage(body: dict[str, Any]) -> dict[str, float]:
    """What a transcription answer reports it used: tokens (gpt-4o-transcribe models) or seconds of audio
    (whisper-1's `usage`, or else the verbose_json `duration`)."""
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    if usage.get("type") == "tokens":
        details = usage.get("input_token_details") or {}
        return {"audio_input": details.get("audio_tokens") or 0, "text_input": details.get("text_tokens") or 0,
                "text_output": usage.get("output_tokens") or 0}
    seconds = usage.get("seconds") if usage.get("type") == "duration" else body.get("duration")
    return {"seconds": float(seconds or 0)}


def _processing_error(what: str, exc: openai.OpenAIError) -> ProcessingError:
    if isinstance(exc, openai.APITimeoutError):
        return ProcessingError(f"OpenAI {what} timed out", permanent=False)
    if isinstance(exc, openai.APIConnectionError):
        return ProcessingError(f"could not reach OpenAI for {what}", permanent=False)
    if isinstance(exc, openai.APIStatusError):
        transient = exc.status_code >= 500 or exc.status_code in TRANSIENT_STATUS
        message = f"OpenAI {what} answered {exc.status_code}: {_api_message(exc)}"
        return ProcessingError(message, permanent=not transient)
    if isinstance(exc, openai.LengthFinishReasonError):
        return ProcessingError(f"the model's {what} answer was cut off at its length limit")
    if isinstance(exc, openai.ContentFilterFinishReasonError):
        return ProcessingError(f"the model's {what} answer was blocked by the content filter")
    return ProcessingError(f"OpenAI {what} failed: {exc}")


def _api_message(exc: openai.APIStatusError) -> str:
    # The SDK hands over the body's "error" object when there is one; fall back to its own summary.
    body = exc.body if isinstance(exc.body, dict) else {}
    return str(body.get("message") or exc.message)


def _first_error(exc: pydantic.ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "answer"
    return f"{where}: {first.get('msg')}"
