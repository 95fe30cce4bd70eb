"""The bot's configuration under AI/: every file loads and validates; a bad file is named in the error."""
from __future__ import annotations

import shutil

import pytest

from calls.agent_config import (
    DEFAULT_AI_DIR, SCHEMAS, AgentConfigError, load_agent_config, load_file, relay_settings,
)
from calls.live.relay.session import session_update


@pytest.mark.parametrize("path", sorted(DEFAULT_AI_DIR.rglob("*.yaml")), ids=lambda p: p.name)
def test_every_file_under_ai_loads(path):
    load_file(path)


def test_every_expected_file_exists():
    assert {p.relative_to(DEFAULT_AI_DIR).as_posix() for p in DEFAULT_AI_DIR.rglob("*.yaml")} == set(SCHEMAS)


def test_the_defaults_are_the_prototype_rental_agency_bot():
    config = load_agent_config()
    assert "alquiler" in config.agent.persona
    assert config.agent.turn_detection.model_dump() == {"type": "server_vad", "threshold": 0.9,
                                                        "prefix_padding_ms": 300, "silence_duration_ms": 800,
                                                        "eagerness": "auto"}
    assert set(config.extraction.fields) >= {"place", "budget", "other_requirements"}
    end_call = next(tool for tool in config.tools if tool.name == "end_call")
    assert "reason" in end_call.parameters["properties"]


def test_it_builds_the_relay_settings_and_a_ga_session_update():
    settings = relay_settings(load_agent_config(), voice="coral", transcription_model="whisper-1", language="es",
                              duration_limit_s=120)
    assert settings.opening_instruction.endswith('"' + load_agent_config().agent.opening_line + '"')
    session = session_update(settings)["session"]
    assert session["tools"][0] == {"type": "function", "name": "end_call",
                                   "description": load_agent_config().tools[0].description,
                                   "parameters": load_agent_config().tools[0].parameters}
    assert session["audio"]["input"]["transcription"]["prompt"].startswith("Conversación telefónica")
    assert settings.duration_limit_s == 120


@pytest.fixture
def ai_copy(tmp_path):
    target = tmp_path / "AI"
    shutil.copytree(DEFAULT_AI_DIR, target)
    return target


def test_the_directory_can_be_overridden(ai_copy):
    agent = ai_copy / "prompts" / "agent.yaml"
    agent.write_text(agent.read_text(encoding="utf-8").replace("Eres Lucía", "Eres Marta"), encoding="utf-8")
    assert load_agent_config(ai_copy).agent.persona.startswith("Eres Marta")


@pytest.mark.parametrize("relative, text, problem", [
    ("prompts/agent.yaml", "persona: [unclosed", "not valid YAML"),
    ("prompts/agent.yaml", "persona: Hola\n", "opening_line: Field required"),
    ("prompts/agent.yaml", None, "say_exactly"),
    ("prompts/extraction.yaml", "fields: {place: y}\n", "system: Field required"),
    ("tools/tools.yaml", "tools:\n  - name: transfer\n    description: x\n", "end_call"),
    ("tools/tools.yaml", "tools: []\nextra: 1\n", "extra: Extra inputs are not permitted"),
])
def test_a_bad_file_raises_an_error_naming_it(ai_copy, relative, text, problem):
    path = ai_copy / relative
    if text is None:
        text = path.read_text(encoding="utf-8").replace("{line}", "{linea}")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AgentConfigError, match=problem) as caught:
        load_agent_config(ai_copy)
    assert str(path) in str(caught.value)


def test_a_missing_file_is_named(ai_copy):
    (ai_copy / "tools" / "tools.yaml").unlink()
    with pytest.raises(AgentConfigError, match="tools.yaml: cannot read"):
        load_agent_config(ai_copy)


def test_an_unknown_file_under_ai_is_an_error(ai_copy):
    stray = ai_copy / "prompts" / "stray.yaml"
    stray.write_text("a: 1\n", encoding="utf-8")
    with pytest.raises(AgentConfigError, match="no schema"):
        load_file(stray, ai_copy)
