"""Prompt variables: the renderer, and the refusal of an unknown variable wherever AI/ is loaded (the loader, the
start-up check, a campaign's save), so a misspelt name never reaches a live call."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core import checks
from django.core.exceptions import ValidationError

from calls import prompt_variables
from calls.agent_config import AgentConfigError, load_agent_config, relay_settings


def test_it_replaces_each_variable_once_with_its_value():
    text = "Hola {{contact.name}}, de {{ contact.attributes.Ciudad }}: {{contact.name}}."
    assert prompt_variables.variables_in(text) == ["contact.name", "contact.attributes.Ciudad"]
    assert prompt_variables.render(text, {"contact.name": "Ana", "contact.attributes.Ciudad": "Madrid"}) == (
        "Hola Ana, de Madrid: Ana.")


def test_a_missing_value_renders_empty_and_is_reported_missing():
    text = "Hola {{contact.name}} de {{contact.attributes.Ciudad}}"
    values = {"contact.name": ""}
    assert prompt_variables.render(text, values) == "Hola  de "
    assert prompt_variables.missing_values(prompt_variables.variables_in(text), values) == [
        "contact.name", "contact.attributes.Ciudad"]


def test_values_are_not_rendered_again_and_single_braces_are_text():
    text = 'JSON {"a": 1} y {line} para {{contact.name}}'
    rendered = prompt_variables.render(text, {"contact.name": "{{contact.notes}} {0.__class__}"})
    assert rendered == 'JSON {"a": 1} y {line} para {{contact.notes}} {0.__class__}'


@pytest.mark.parametrize("name", ["contact", "contact.phone_number", "contact.__class__", "today.year",
                                  "contact.attributes.", "contact.attributes._x", "campaign.profile", "0.__class__"])
def test_names_outside_the_list_are_unknown(name):
    assert prompt_variables.unknown_variables(f"x {{{{{name}}}}} y") == [name]


def test_the_clock_values_are_the_callees_wall_clock():
    now = datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo("Europe/Madrid"))
    assert prompt_variables.clock_values(now) == {
        "today": "2026-03-29 (Sunday)", "local_time": "03:30", "time_zone": "Europe/Madrid"}


def _write_persona(ai_dir: Path, line: str, profile: str = "") -> None:
    """Set agent.yaml's wrap_up line: in AI/ itself (a later duplicate key wins) or as a profile's only key."""
    if profile:
        (ai_dir / "profiles" / profile / "prompts" / "agent.yaml").write_text(f"wrap_up: '{line}'\n", encoding="utf-8")
    else:
        path = ai_dir / "prompts" / "agent.yaml"
        path.write_text(path.read_text(encoding="utf-8") + f"\nwrap_up: '{line}'\n", encoding="utf-8")


def test_an_unknown_variable_fails_loading_naming_the_file_the_text_and_the_variable(ai_copy):
    _write_persona(ai_copy, "Adiós {{contact.nombre}}")
    with pytest.raises(AgentConfigError) as error:
        load_agent_config(ai_copy)
    message = str(error.value)
    assert "agent.yaml" in message and "wrap_up" in message and "{{contact.nombre}}" in message
    assert "contact.name" in message  # the known names, to pick the right one


def test_an_unknown_variable_in_a_profile_fails_that_profile_only(ai_copy):
    _write_persona(ai_copy, "Adiós {{cliente}}", profile="ventas")
    with pytest.raises(AgentConfigError, match="cliente"):
        load_agent_config(ai_copy, "ventas")
    load_agent_config(ai_copy)


def test_the_start_up_check_refuses_an_unknown_variable(ai_copy):
    assert [m.id for m in checks.run_checks() if m.level >= checks.ERROR] == []
    _write_persona(ai_copy, "Adiós {{cliente}}", profile="ventas")
    errors = [m for m in checks.run_checks() if m.level >= checks.ERROR]
    assert [m.id for m in errors] == ["calls.E002"] and "cliente" in errors[0].msg


@pytest.mark.django_db
def test_a_campaign_with_a_profile_using_an_unknown_variable_cannot_be_saved(ai_copy):
    from campaigns.models import Campaign

    _write_persona(ai_copy, "Adiós {{cliente}}", profile="ventas")
    campaign = Campaign(name="Ventas", profile="ventas")
    with pytest.raises(ValidationError) as error:
        campaign.full_clean()
    assert "cliente" in str(error.value.message_dict["profile"])


def test_the_shipped_prompts_use_the_callees_name_date_and_local_time():
    agent = load_agent_config().agent
    assert {"contact.name", "today", "local_time", "time_zone"} <= set(agent.variables())


def test_the_disclosure_comes_first_in_the_opening_and_an_empty_one_says_nothing():
    config = load_agent_config()
    assert config.agent.disclosure.startswith("Esta llamada puede ser grabada")
    opening = relay_settings(config, voice="coral", transcription_model="whisper-1", language="es",
                             duration_limit_s=0).opening_instruction
    assert f'"{config.agent.disclosure} {config.agent.opening_line}"' in opening
    silent = config.model_copy(update={"agent": config.agent.model_copy(update={"disclosure": ""})})
    opening = relay_settings(silent, voice="coral", transcription_model="whisper-1", language="es",
                             duration_limit_s=0).opening_instruction
    assert f'"{config.agent.opening_line}"' in opening and "grabada" not in opening
