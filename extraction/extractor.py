"""Structured extraction from the speaker-labelled conversation with the EXTRACTION_SCHEMA model."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from pydantic import BaseModel

from extraction import llm_client
from extraction.prompts import prompts_load
from extraction.schemas import extraction_schema_get
from extraction.steps import Step

INSTRUCTIONS = (
    "Extract the fields below from this phone call transcript. Lines starting with 'Bot:' are our agent, lines "
    "starting with 'Client:' are the person called: a value counts only if the client said or confirmed it. "
    "Leave a field null when the call does not reveal it; never guess."
)


def extraction_messages(conversation: str, schema: type[BaseModel], profile: str = "") -> tuple[str, str]:
    """(system, user): the system prompt from AI/prompts/extraction.yaml (the agent profile's, given one); the
    field instructions and the labelled transcript in the user message."""
    prompts = prompts_load(profile)
    lines = [f"- {name}: {_field_help(name, schema, prompts.fields)}" for name in schema.model_fields]
    # The labels stay in: without them the model cannot tell the bot's suggestions from the client's answers.
    user = f"{INSTRUCTIONS}\n\nFields:\n" + "\n".join(lines) + f"\n\n<transcript>\n{conversation}\n</transcript>"
    return prompts.system.strip(), user


def _field_help(name: str, schema: type[BaseModel], configured: dict[str, str]) -> str:
    return (configured.get(name) or schema.model_fields[name].description or name).strip()


def data_extract(step: Step, *, conversation: str, profile: str = "") -> dict[str, Any]:
    schema = extraction_schema_get(prompts_load(profile).schema_path)  # the profile's own model, if it names one
    system, user = extraction_messages(conversation, schema, profile)
    parsed, usage = step.request(lambda: llm_client.structured_parse(system=system, user=user, schema=schema))
    step.usage_add(settings.OPENAI_TEXT_MODEL, usage)
    return parsed.model_dump(mode="json")
