"""How the calls admin shows what the pipeline and the relay stored as JSON: in words and small tables.

Call-centre staff read these, so every key becomes a label ("Speakers", "Slowest response") and every state a
sentence; a key we do not know yet is still shown, with its name made readable, rather than hidden.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _, ngettext

from calls.models import Call, CallMeasures
from extraction.schemas import ExtractedData, extraction_schema_get
from extraction.services import ProcessingRecord
from extraction.steps import StepRecord

STATES = {
    "queued": _("Queued"), "running": _("Running"), "done": _("Done"), "failed": _("Failed"),
    "skipped": _("Skipped (answering machine)"),
}
STEPS = {
    "load": _("Load recording"), "diarize": _("Speakers"), "transcribe": _("Transcribe"), "merge": _("Merge"),
    "extract": _("Extract"),
}
STEP_STATES = {"done": _("Done"), "failed": _("Failed"), "skipped": _("Skipped")}
SOURCES = {"openai": _("the recording (OpenAI speech-to-text)"), "live": _("the live transcript heard during the call")}
USAGE_LABELS = {
    "responses": _("Bot answers"), "total_tokens": _("Total tokens"), "input_tokens": _("Input tokens"),
    "output_tokens": _("Output tokens"), "input_token_details": _("Input"), "output_token_details": _("Output"),
    "audio_tokens": _("audio"), "text_tokens": _("text"), "cached_tokens": _("cached"), "image_tokens": _("image"),
}
METRIC_LABELS = {
    "duration_ms": _("Length of the conversation"), "response_latency_mean_ms": _("Mean response time"),
    "response_latency_max_ms": _("Slowest response"), "response_latency_ms": _("Responses timed"),
    "barge_ins": _("Times the callee interrupted the bot"),
    "first_words_ms": _("First words (from the callee answering)"),
}
COST_PARTS = {
    "realtime": _("Conversation (OpenAI Realtime)"), "transcription": _("Transcription"), "extraction": _("Extraction"),
    "twilio": _("Phone line (Twilio)"),
}
COST_UNITS = {"minutes": _("min"), "seconds": _("s of audio")}
EXTRACTED_CHARS = 60


def money(amount: object, currency: str = "USD") -> str:
    """`0.0123 USD`: four decimals, enough to tell calls apart that cost fractions of a cent; "–" for nothing."""
    try:
        return f"{Decimal(str(amount)):.4f} {currency}"
    except (InvalidOperation, ValueError):
        return "–"


def cost_currency(cost: object) -> str:
    """The currency Call.cost was priced in (the price table's)."""
    return str(cost.get("currency") or "USD") if isinstance(cost, dict) else "USD"


def cost_table(cost: object) -> SafeString | str:
    """Call.cost as rows: each part with what was counted and its amount, then the total and what had no price."""
    currency = cost_currency(cost)
    cost = cost if isinstance(cost, dict) else {}
    parts = cost.get("parts") if isinstance(cost.get("parts"), dict) else {}
    rows = [(COST_PARTS.get(name) or field_label(name), _cost_part(part, currency))
            for name, part in parts.items() if isinstance(part, dict)]
    if rows:
        rows.append((_("Total"), _("%(amount)s (prices of %(date)s)")
                     % {"amount": money(cost.get("total"), currency), "date": cost.get("prices_date") or "?"}))
    if cost.get("unpriced"):
        rows.append((_("No price for"), _("%(models)s (add it to PRICES)")
                     % {"models": ", ".join(map(str, cost["unpriced"]))}))
    return _table(rows, css="call-cost")


def _cost_part(part: dict[str, Any], currency: str) -> str:
    what = [str(part.get("model") or ", ".join(map(str, part.get("models") or [])))]
    what += [f"{part[key]:,} {unit}" for key, unit in COST_UNITS.items() if isinstance(part.get(key), int | float)]
    if isinstance(part.get("tokens"), dict):
        what.append(_("tokens: %(tokens)s") % {"tokens": _usage_value(part["tokens"])})
    return f"{money(part.get('amount'), currency)} · " + " · ".join(item for item in what if item)


def processing_table(call: Call) -> SafeString:
    """The processing state and one row per step (status, seconds, attempts, what went wrong) as HTML."""
    processing = ProcessingRecord.from_stored(call.processing)
    steps = processing.steps
    context = {
        "state": STATES.get(processing.status, processing.status),
        "status": processing.status,
        "when": _state_when(processing),
        "source": SOURCES.get(processing.source, processing.source),
        "error": _sentence(processing.error),
        "steps": [_step_row(name, steps.get(name)) for name in [*STEPS, *(k for k in steps if k not in STEPS)]]
        if steps else [],
    }
    return render_to_string("admin/calls/call/processing.html", context)


def token_usage_table(usage: object) -> SafeString | str:
    """Token counts of the call's Realtime session; nested details ("audio 120, text 30") on one row each."""
    rows = [(USAGE_LABELS.get(key) or field_label(key), _usage_value(value))
            for key, value in CallMeasures.from_stored(usage).values.items()]
    return _table(rows, css="call-usage")


def metrics_table(metrics: object) -> SafeString | str:
    """The relay's measurements of the conversation: length, response times, interruptions."""
    rows = [(METRIC_LABELS.get(key) or field_label(key), _metric_value(key, value))
            for key, value in CallMeasures.from_stored(metrics).values.items()]
    return _table(rows, css="call-metrics")


def processing_failed(call: Call) -> bool:
    return ProcessingRecord.from_stored(call.processing).is_failed


# Extracted data: one list column and one call-page row per field of the extraction schema

def extracted_titles() -> dict[str, str]:
    """Field name -> title, in the schema's order; empty when the schema is misconfigured (the `extraction`
    system check reports that; the admin must still open). Titled from the field's title or name: descriptions
    are sentences written for the model, too long for a column heading."""
    try:
        fields = extraction_schema_get().model_fields
    except ImproperlyConfigured:
        return {}
    return {name: info.title or field_label(name) for name, info in fields.items()}


def extracted_columns() -> list:
    """A list_display callable per schema field."""
    return [_extracted_column(name, title) for name, title in extracted_titles().items()]


def extracted_others(data: object) -> dict[str, Any]:
    """Extracted values with no schema field: an earlier schema's, or all of them when none is configured."""
    titles = extracted_titles()
    return {k: v for k, v in ExtractedData.from_stored(data).values.items() if k not in titles}


def extracted_rows(data: object) -> list[tuple[str, str]]:
    """(title, value) for the call page: the schema's fields in its order, then the others."""
    values = ExtractedData.from_stored(data).values
    if not values:
        return []
    rows = [(title, extracted_text(values.get(name)) or "–") for name, title in extracted_titles().items()]
    return rows + [(field_label(key), extracted_text(value) or "–") for key, value in extracted_others(data).items()]


def _extracted_column(name: str, title: str):
    def column(call: Call) -> str:
        value = ExtractedData.from_stored(call.extracted_data).values.get(name)
        return Truncator(extracted_text(value)).chars(EXTRACTED_CHARS) or "–"

    column.__name__ = f"extracted_{name}"
    column.short_description = title
    return column


def extracted_text(value: Any) -> str:
    """An extracted value as staff read it: yes/no, lists joined, empty for nothing."""
    if value in (None, "", [], {}):
        return ""
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    if isinstance(value, list):
        return ", ".join(extracted_text(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{field_label(key)}: {extracted_text(item)}" for key, item in value.items())
    return str(value)


@dataclass
class StepRow:
    name: str
    status: str
    css: str
    seconds: str
    attempts: str
    details: str


def _step_row(name: str, step: StepRecord | None) -> StepRow:
    label = STEPS.get(name) or field_label(name)
    if step is None:
        return StepRow(label, _("Not reached"), "none", "–", "–", _("An earlier step failed."))
    status, attempts = step.status, step.attempts
    retries = " " + ngettext("(%(count)s retry)", "(%(count)s retries)", attempts - 1) % {"count": attempts - 1} \
        if attempts > 1 else ""
    return StepRow(
        name=label, status=STEP_STATES.get(status, status), css=status or "none",
        seconds=_seconds(step.seconds) if status != "skipped" else "–",
        attempts=f"{attempts}{retries}" if attempts else "–", details=_step_details(step),
    )


def _step_details(step: StepRecord) -> str:
    if step.error:
        return _sentence(step.error)
    if step.reason:
        return _sentence(step.reason)
    return " ".join(_sentence(note) for note in step.notes)


def _state_when(processing: ProcessingRecord) -> str:
    status = processing.status
    if status == "queued":
        return _("waiting for a worker since %(when)s") % {"when": _when(processing.queued_at)}
    if status == "running":
        return _("started %(when)s") % {"when": _when(processing.started_at)}
    if status in ("done", "failed"):
        return _("finished %(when)s, took %(seconds)s") % {"when": _when(processing.finished_at),
                                                           "seconds": _seconds(processing.seconds)}
    return ""


def _when(value: object) -> str:
    try:
        moment = timezone.localtime(datetime.fromisoformat(str(value)))
    except (TypeError, ValueError):
        return _("an unknown time")
    return f"{moment:%Y-%m-%d %H:%M:%S}"


def _seconds(value: object) -> str:
    if not isinstance(value, int | float):
        return "–"
    if value < 90:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds} s"


def _usage_value(value: object) -> str:
    if isinstance(value, dict):
        # Sorted: PostgreSQL's jsonb does not keep the order the keys were written in.
        parts = [f"{USAGE_LABELS.get(k) or field_label(k).lower()} {_usage_value(v)}" for k, v in sorted(value.items())]
        return ", ".join(parts) or "–"
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _metric_value(key: str, value: object) -> str:
    if value is None:
        return "–"
    if key == "duration_ms" and isinstance(value, int | float):
        return _seconds(value / 1000)
    if key == "response_latency_ms" and isinstance(value, list):
        return str(len(value))
    if key.endswith("_ms") and isinstance(value, int | float):
        return f"{value:,.0f} ms"
    return str(value)


def _table(rows: list[tuple[str, str]], *, css: str) -> SafeString | str:
    if not rows:
        return "–"
    return render_to_string("admin/calls/call/key_values.html", {"rows": rows, "css": css})


def _sentence(text: object) -> str:
    text = str(text or "").strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def field_label(key: object) -> str:
    """`budget_max` -> `Budget max`: a stored key as a label."""
    return str(key).replace("_", " ").capitalize()
