"""The structured data extracted from a call: a Pydantic model named by the EXTRACTION_SCHEMA setting.

The default reproduces the prototype's `ClientInfoExtraction`, with every field allowed to be empty: a call that
did not reveal the budget yields `budget: null`, never a guess. A deployment that needs other fields points
EXTRACTION_SCHEMA at its own model (same rule: make fields `X | None` so the model is never forced to invent).
ExtractedData reads what was stored back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from pydantic import BaseModel, Field


class ClientInfoExtraction(BaseModel):
    """What the rental agency wants to know about the client."""

    place: str | None = Field(
        default=None, description="The places where the client wants to live, as the client said them."
    )
    budget: int | None = Field(default=None, description="The client's maximum budget, as a whole number.")
    other_requirements: str | None = Field(
        default=None, description="Other wishes the client has for the home (rooms, pets, parking, ...)."
    )


def extraction_schema_get(path: str = "") -> type[BaseModel]:
    """The model class named by `path` (an agent profile's `schema`), by default by EXTRACTION_SCHEMA;
    ImproperlyConfigured when it is not a Pydantic model."""
    named = f"schema {path!r}" if path else f"EXTRACTION_SCHEMA={settings.EXTRACTION_SCHEMA!r}"
    try:
        schema = import_string(path or settings.EXTRACTION_SCHEMA)
    except ImportError as exc:
        raise ImproperlyConfigured(f"{named} cannot be imported: {exc}") from exc
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        raise ImproperlyConfigured(f"{named} is not a Pydantic model class")
    return schema


@dataclass(frozen=True)
class ExtractedData:
    """Call.extracted_data read back: field name -> value, under the schema of the day the call was processed (so
    an older call may hold fields the schema no longer has). Anything but a JSON object reads as nothing extracted.
    """

    values: dict[str, Any]

    @classmethod
    def from_stored(cls, value: object) -> ExtractedData:
        return cls(values=dict(value) if isinstance(value, dict) else {})
