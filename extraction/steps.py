"""Running one post-call step: timed, its OpenAI requests retried with backoff, its outcome written down.

Each step leaves `{status, seconds, error, attempts}` in the report (plus `requests`, `notes` and `usage` when it
has any: `usage` sums what OpenAI reported per model, `{model: {"seconds"|"input"|"output"...: n}}`, for pricing). `attempts` is 1 + the retries the step needed. Transient errors (`ProcessingError.permanent` False) are
retried up to PROCESSING_MAX_ATTEMPTS tries per request, waiting PROCESSING_RETRY_BACKOFF seconds doubled each
time; anything else fails the step at once. StepRecord reads a report back.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from extraction.exceptions import ProcessingError

log = logging.getLogger(__name__)
T = TypeVar("T")


class StepFailed(Exception):
    """A step failed; its report is already written."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message


class Step:
    def __init__(self, name: str, call_sid: str) -> None:
        self.name = name
        self.call_sid = call_sid
        self.requests = 0
        self.retries = 0
        self.notes: list[str] = []
        self.usage: dict[str, dict[str, float]] = {}

    def request(self, send: Callable[[], T]) -> T:
        """Send one external request, retrying transient failures with exponential backoff."""
        for attempt in range(1, settings.PROCESSING_MAX_ATTEMPTS + 1):
            self.requests += 1
            try:
                return send()
            except ProcessingError as exc:
                if exc.permanent or attempt >= settings.PROCESSING_MAX_ATTEMPTS:
                    raise
                delay = settings.PROCESSING_RETRY_BACKOFF * 2 ** (attempt - 1)
                log.warning("call %s %s: %s; retry %d in %.1fs", self.call_sid, self.name, exc.message, attempt, delay)
                self.retries += 1
                time.sleep(delay)
        raise AssertionError("unreachable")

    def usage_add(self, model: str, counts: dict[str, float]) -> None:
        """Add what one answer of `model` reported (calls.pricing reads these counts)."""
        total = self.usage.setdefault(model, {})
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value

    def note(self, text: str) -> None:
        log.info("call %s %s: %s", self.call_sid, self.name, text)
        self.notes.append(text)

    def report(self, status: str, seconds: float, error: str = "") -> dict[str, Any]:
        report: dict[str, Any] = {"status": status, "seconds": round(seconds, 3), "error": error,
                                  "attempts": 1 + self.retries}
        if self.requests:
            report["requests"] = self.requests
        if self.notes:
            report["notes"] = self.notes
        if self.usage:
            report["usage"] = self.usage
        return report


@contextmanager
def step_run(steps: dict[str, Any], name: str, *, call_sid: str) -> Iterator[Step]:
    """Time the block as step `name`; record its outcome in `steps`; raise StepFailed if it failed."""
    step, started = Step(name, call_sid), time.perf_counter()
    try:
        yield step
    except (ProcessingError, ImproperlyConfigured) as exc:
        message = exc.message if isinstance(exc, ProcessingError) else str(exc)
        steps[name] = step.report("failed", time.perf_counter() - started, message)
        log.warning("call %s %s failed: %s", call_sid, name, message)
        raise StepFailed(name, message) from exc
    except Exception as exc:
        log.exception("call %s %s crashed", call_sid, name)
        message = f"internal error ({type(exc).__name__}: {exc})"
        steps[name] = step.report("failed", time.perf_counter() - started, message)
        raise StepFailed(name, message) from exc
    steps[name] = step.report("done", time.perf_counter() - started)


def step_skip(steps: dict[str, Any], name: str, *, reason: str) -> None:
    steps[name] = {"status": "skipped", "seconds": 0.0, "error": "", "attempts": 0, "reason": reason}


@dataclass(frozen=True)
class StepRecord:
    """One step's report as stored in Call.processing["steps"], read back; a value of the wrong type reads as
    empty rather than failing the page that shows it."""

    status: str = ""  # done, failed or skipped
    seconds: float | None = None
    error: str = ""
    attempts: int = 0
    reason: str = ""  # why it was skipped
    notes: tuple[str, ...] = ()

    @classmethod
    def from_stored(cls, value: object) -> StepRecord | None:
        """None when the step has no report (it was not reached)."""
        if not isinstance(value, dict):
            return None
        attempts, notes = value.get("attempts"), value.get("notes")
        return cls(
            status=str(value.get("status") or ""), seconds=_number(value.get("seconds")),
            error=str(value.get("error") or ""),
            attempts=attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else 0,
            reason=str(value.get("reason") or ""),
            notes=tuple(str(note) for note in notes) if isinstance(notes, list) else (),
        )


def _number(value: object) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None
