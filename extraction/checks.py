"""System checks: a broken post-call configuration shows at start-up and in CI, not after the first call.
(A missing OPENAI_API_KEY is already reported by calls.W002.)"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from extraction.prompts import prompts_load
from extraction.schemas import extraction_schema_get


@register()
def extraction_settings_check(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    try:
        extraction_schema_get()
    except ImproperlyConfigured as exc:
        problems.append(Error(str(exc), id="extraction.E001"))
    try:
        prompts_load()
    except (OSError, ValueError) as exc:
        problems.append(Error(f"AI/prompts/extraction.yaml cannot be used: {exc}", id="extraction.E002"))
    if settings.DIARIZATION_BACKEND not in ("pyannote", "none"):
        problems.append(Error("DIARIZATION_BACKEND must be 'pyannote' or 'none'.", id="extraction.E003"))
    return problems
