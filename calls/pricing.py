"""What a call cost: the price table (defaults below, overridden by PRICES / PRICES_FILE) and the sum of each part.

A call is priced from what was stored about it, so the figure can be recomputed whenever a part arrives:
    realtime       Call.token_usage (the relay's sum of every `response.done` usage): text and audio tokens in
                   and out, cached input at its own price; model = the one the session ran (stored beside it)
    transcription  the transcribe step's usage in Call.processing: seconds of audio (whisper-1 bills per minute)
                   or tokens (gpt-4o-transcribe models)
    extraction     the extract step's usage in Call.processing: prompt (cached apart) and completion tokens
    twilio         Call.duration rounded up to whole minutes (how Twilio bills), voice + Media Streams
`call_cost_update` stores the figure on the call; it is called by the three writers of those parts.
Token prices are per million tokens, time prices per minute, all in PRICES_CURRENCY. A model without a price
costs nothing and is named in the breakdown's `unpriced`, so staff see why a figure is low.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from calls.models import Call

logger = logging.getLogger(__name__)

MILLION = Decimal(1_000_000)
CENT_FRACTION = Decimal("0.000001")  # amounts are kept to a millionth of the currency unit

# Providers' public list prices, read 2025-09 (openai.com/api/pricing, twilio.com/voice/pricing/us). They change:
# override them with PRICES or PRICES_FILE (same shape, merged model by model over these).
DEFAULT_PRICES: dict[str, Any] = {
    "currency": "USD",
    "date": "2025-09",
    "realtime": {  # per 1M tokens
        "gpt-realtime": {"text_input": 4.00, "text_cached_input": 0.40, "text_output": 16.00,
                         "audio_input": 32.00, "audio_cached_input": 0.40, "audio_output": 64.00},
        "gpt-realtime-mini": {"text_input": 0.60, "text_cached_input": 0.06, "text_output": 2.40,
                              "audio_input": 10.00, "audio_cached_input": 0.30, "audio_output": 20.00},
    },
    "transcription": {  # per minute of audio, or per 1M tokens
        "whisper-1": {"minute": 0.006},
        "gpt-4o-transcribe": {"minute": 0.006, "audio_input": 6.00, "text_input": 2.50, "text_output": 10.00},
        "gpt-4o-mini-transcribe": {"minute": 0.003, "audio_input": 3.00, "text_input": 1.25, "text_output": 5.00},
    },
    "text": {  # per 1M tokens
        "gpt-4o-mini": {"input": 0.15, "cached_input": 0.075, "output": 0.60},
        "gpt-4o": {"input": 2.50, "cached_input": 1.25, "output": 10.00},
        "gpt-4.1-mini": {"input": 0.40, "cached_input": 0.10, "output": 1.60},
        "gpt-4.1": {"input": 2.00, "cached_input": 0.50, "output": 8.00},
    },
    "twilio": {"voice_minute": 0.014, "stream_minute": 0.004},  # US outbound, per started minute
}
SECTIONS = ("realtime", "transcription", "text")


def price_table() -> dict[str, Any]:
    """The defaults with PRICES_FILE, then PRICES, merged over them; ImproperlyConfigured names what is wrong."""
    return _price_table(settings.PRICES, settings.PRICES_FILE)


@lru_cache(maxsize=4)
def _price_table(text: str, path: str) -> dict[str, Any]:
    table = json.loads(json.dumps(DEFAULT_PRICES))
    if path:
        try:
            _merge(table, _parse(Path(path).read_text(encoding="utf-8"), f"PRICES_FILE ({path})"))
        except OSError as exc:
            raise ImproperlyConfigured(f"PRICES_FILE ({path}) cannot be read: {exc.strerror}") from exc
    if text:
        _merge(table, _parse(text, "PRICES"))
    return table


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{where} must be a JSON object like {{\"text\": {{\"gpt-4o-mini\": {{...}}}}}}")
    for section in (*SECTIONS, "twilio"):
        models = value.get(section, {})
        entries = models.values() if section != "twilio" else [models]
        if not isinstance(models, dict) or not all(_is_prices(entry) for entry in entries):
            raise ImproperlyConfigured(f"{where}: \"{section}\" must map names to {{\"unit\": number}} prices")
    return value


def _is_prices(entry: object) -> bool:
    return isinstance(entry, dict) and all(
        isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in entry.values())


def _merge(table: dict[str, Any], override: dict[str, Any]) -> None:
    for key, value in override.items():
        if key in (*SECTIONS, "twilio"):
            table[key].update(value)
        else:
            table[key] = value


@dataclass
class CallCost:
    """The breakdown stored in Call.cost: one entry per priced part, amounts as decimal strings."""

    currency: str
    prices_date: str
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)
    unpriced: list[str] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((Decimal(part["amount"]) for part in self.parts.values()), Decimal(0))

    def add(self, name: str, amount: Decimal, **detail: Any) -> None:
        self.parts[name] = {**detail, "amount": str(amount.quantize(CENT_FRACTION, ROUND_HALF_UP))}

    def as_json(self) -> dict[str, Any]:
        return {"currency": self.currency, "prices_date": self.prices_date, "parts": self.parts,
                "unpriced": self.unpriced, "total": str(self.total.quantize(CENT_FRACTION, ROUND_HALF_UP))}


def call_cost_update(*, call_id: int) -> None:
    """Price the call from what is stored on it now (call_cost).

    Writes Call.cost (the breakdown) and Call.cost_total. Enqueues nothing. A deleted call is left alone, and so
    is a call when the price table cannot be read (logged; calls.E010 says why): the status callback or the
    processing that called this must not fail over a price.
    """
    call = Call.objects.filter(pk=call_id).only("twilio_sid", "token_usage", "processing", "duration").first()
    if call is None:
        return
    try:
        cost = call_cost(token_usage=call.token_usage, processing=call.processing, duration=call.duration)
    except ImproperlyConfigured as exc:
        logger.error("Call sid=%s not priced: %s", call.twilio_sid, exc)
        return
    Call.objects.filter(pk=call_id).update(cost=cost.as_json(), cost_total=cost.total)
    if cost.unpriced:
        logger.warning("Call sid=%s has no price for: %s", call.twilio_sid, ", ".join(cost.unpriced))


def call_cost(*, token_usage: object, processing: object, duration: float | None) -> CallCost:
    """Price what is known of a call; parts with nothing to price are left out."""
    prices = price_table()
    cost = CallCost(currency=str(prices.get("currency", "USD")), prices_date=str(prices.get("date", "")))
    _realtime(cost, prices["realtime"], token_usage if isinstance(token_usage, dict) else {})
    steps = processing.get("steps") if isinstance(processing, dict) else None
    steps = steps if isinstance(steps, dict) else {}
    _transcription(cost, prices["transcription"], _step_usage(steps, "transcribe"))
    _extraction(cost, prices["text"], _step_usage(steps, "extract"))
    _twilio(cost, prices["twilio"], duration)
    return cost


def _step_usage(steps: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    step = steps.get(name)
    usage = step.get("usage") if isinstance(step, dict) else None
    return {model: counts for model, counts in usage.items() if isinstance(counts, dict)} \
        if isinstance(usage, dict) else {}


def _price(cost: CallCost, section: dict[str, Any], model: str, what: str) -> dict[str, Any] | None:
    prices = section.get(model)
    if prices is None:
        cost.unpriced.append(f"{what} model {model}")
    return prices


def _realtime(cost: CallCost, section: dict[str, Any], usage: dict[str, Any]) -> None:
    model = str(usage.get("model") or "")
    if not model or not usage.get("total_tokens") or (prices := _price(cost, section, model, "realtime")) is None:
        return
    tokens_in, tokens_out = _dict(usage.get("input_token_details")), _dict(usage.get("output_token_details"))
    cached = _dict(tokens_in.get("cached_tokens_details"))
    # Cached tokens are part of the input counts; without a per-modality split they are taken as text.
    cached_audio = _int(cached.get("audio_tokens"))
    cached_text = _int(cached.get("text_tokens")) if cached else _int(tokens_in.get("cached_tokens"))
    counts = {
        "text_input": max(0, _int(tokens_in.get("text_tokens")) - cached_text), "text_cached_input": cached_text,
        "audio_input": max(0, _int(tokens_in.get("audio_tokens")) - cached_audio), "audio_cached_input": cached_audio,
        "text_output": _int(tokens_out.get("text_tokens")), "audio_output": _int(tokens_out.get("audio_tokens")),
    }
    cost.add("realtime", _per_million(counts, prices), model=model, tokens=counts)


def _transcription(cost: CallCost, section: dict[str, Any], usage: dict[str, dict[str, Any]]) -> None:
    amount, seconds, tokens = Decimal(0), 0.0, {}
    for model, counts in usage.items():
        if (prices := _price(cost, section, model, "transcription")) is None:
            continue
        if "seconds" in counts:
            seconds += float(counts["seconds"])
            amount += Decimal(str(counts["seconds"])) / 60 * Decimal(str(prices.get("minute", 0)))
        token_counts = {key: _int(counts.get(key)) for key in ("audio_input", "text_input", "text_output")}
        amount += _per_million(token_counts, prices)
        tokens = {key: tokens.get(key, 0) + value for key, value in token_counts.items()}
    if usage:
        cost.add("transcription", amount, models=sorted(usage), seconds=round(seconds, 3),
                 **({"tokens": tokens} if any(tokens.values()) else {}))


def _extraction(cost: CallCost, section: dict[str, Any], usage: dict[str, dict[str, Any]]) -> None:
    amount, tokens = Decimal(0), {"input": 0, "cached_input": 0, "output": 0}
    for model, counts in usage.items():
        if (prices := _price(cost, section, model, "extraction")) is None:
            continue
        cached = _int(counts.get("cached_input"))
        counts = {"input": max(0, _int(counts.get("input")) - cached), "cached_input": cached, "output": _int(counts.get("output"))}
        amount += _per_million(counts, prices)
        tokens = {key: tokens[key] + value for key, value in counts.items()}
    if usage:
        cost.add("extraction", amount, models=sorted(usage), tokens=tokens)


def _twilio(cost: CallCost, prices: dict[str, Any], duration: float | None) -> None:
    if not duration or duration <= 0:
        return  # an unanswered call is not billed
    minutes = math.ceil(duration / 60)
    rate = Decimal(str(prices.get("voice_minute", 0))) + Decimal(str(prices.get("stream_minute", 0)))
    cost.add("twilio", minutes * rate, minutes=minutes)


def _per_million(counts: dict[str, int], prices: dict[str, Any]) -> Decimal:
    return sum((Decimal(count) * Decimal(str(prices.get(unit, 0))) for unit, count in counts.items()),
               Decimal(0)) / MILLION


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
