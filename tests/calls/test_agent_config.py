"""The bot's configuration under AI/: every file loads and validates; a bad file is named in the error."""
from __future__ import annotations

import pytest

from calls.agent_config import (
    DEFAULT_AI_DIR, PROFILES, SCHEMAS, AgentConfigError, load_agent_config, load_part, profile_names,
    relay_settings,
)
from calls.live.relay.session import session_update


def _own_files(root):
    return {p.relative_to(root).as_posix() for p in root.rglob("*.yaml")
            if p.relative_to(root).parts[0] != PROFILES}


@pytest.mark.parametrize("relative", sorted(SCHEMAS))
def test_every_file_under_ai_loads(relative):
    load_part(relative)


def test_every_expected_file_exists():
    assert _own_files(DEFAULT_AI_DIR) == set(SCHEMAS)


@pytest.mark.parametrize("profile", profile_names())
def test_every_shipped_agent_profile_loads(profile):
    from extraction.schemas import extraction_schema_get

    config = load_agent_config(profile=profile)
    assert config.agent.persona  # merged over AI/ and validated like it
    extraction_schema_get(config.extraction.schema_path)  # its own extraction model, if it names one, imports


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
    agent = load_agent_config().agent
    assert settings.opening_instruction.endswith(f'"{agent.disclosure} {agent.opening_line}"')
    session = session_update(settings)["session"]
    assert session["tools"][0] == {"type": "function", "name": "end_call",
                                   "description": load_agent_config().tools[0].description,
                                   "parameters": load_agent_config().tools[0].parameters}
    assert session["audio"]["input"]["transcription"]["prompt"].startswith("Conversación telefónica")
    assert settings.duration_limit_s == 120


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
        load_part("prompts/stray.yaml", ai_copy)


# ---- agent profiles: AI/profiles/<name>/, each file merged over AI/'s own, each missing file AI/'s ----------------


def profile_file(ai_copy, relative: str, text: str, profile: str = "sales"):
    path = ai_copy / PROFILES / profile / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_profile_overrides_only_the_persona_and_opening():
    default, ventas = load_agent_config(), load_agent_config(profile="ventas")
    assert ventas.agent.persona.startswith("Eres Carlos") and "Carlos" in ventas.agent.opening_line
    assert ventas.agent.persona != default.agent.persona and ventas.agent.opening_line != default.agent.opening_line
    assert ventas.agent.model_copy(update={"persona": "", "opening_line": ""}) == default.agent.model_copy(
        update={"persona": "", "opening_line": ""})
    assert (ventas.tools, ventas.extraction, ventas.transcription) == (
        default.tools, default.extraction, default.transcription)


def test_each_file_falls_back_to_ai_and_keys_merge_over_it(ai_copy):
    profile_file(ai_copy, "prompts/extraction.yaml", "system: Eres un analista de ventas.\n")
    profile_file(ai_copy, "prompts/agent.yaml", "turn_detection: {threshold: 0.5}\n")
    profile_file(ai_copy, "tools/tools.yaml",
                 "tools:\n  - name: end_call\n    description: Cuelga.\n"
                 "    parameters: {type: object, properties: {reason: {type: string}}}\n")
    default, sales = load_agent_config(ai_copy), load_agent_config(ai_copy, "sales")
    assert sales.extraction.system == "Eres un analista de ventas."
    assert sales.extraction.fields == default.extraction.fields  # a key it does not set is AI/'s
    assert sales.agent.turn_detection.threshold == 0.5  # nested keys merge too
    assert sales.agent.turn_detection.silence_duration_ms == default.agent.turn_detection.silence_duration_ms
    assert [tool.description for tool in sales.tools] == ["Cuelga."]  # a list replaces AI/'s
    assert sales.transcription == default.transcription  # a file it does not have is AI/'s
    assert load_agent_config(ai_copy) == default  # AI/ itself is untouched


def test_an_empty_profile_is_the_defaults(ai_copy):
    (ai_copy / PROFILES / "blank").mkdir()
    assert load_agent_config(ai_copy, "blank") == load_agent_config(ai_copy)


@pytest.mark.parametrize("name", ["nope", "../AI", "ventas/../..", ".hidden"])
def test_an_unknown_profile_fails_loudly_never_the_defaults(ai_copy, name):
    (ai_copy / PROFILES / ".hidden").mkdir()
    with pytest.raises(AgentConfigError, match="No agent profile"):
        load_agent_config(ai_copy, name)


@pytest.mark.parametrize("relative, text, problem", [
    ("prompts/agent.yaml", "persona: [unclosed\n", "not valid YAML"),
    ("prompts/agent.yaml", "persona: ''\n", "persona: String should have at least 1 character"),
    ("prompts/agent.yaml", "- a list\n", "expected a mapping"),
    ("prompts/agent.yaml", "say_exactly: Di esto.\n", "say_exactly: Value error, must contain {line}"),
    ("tools/tools.yaml", "tools: []\n", "end_call"),
    ("prompts/extraction.yaml", "colour: red\n", "colour: Extra inputs are not permitted"),
    ("prompts/agnet.yaml", "persona: Hola\n", "not a file of an agent profile"),
])
def test_a_bad_profile_file_is_named_in_the_error(ai_copy, relative, text, problem):
    path = profile_file(ai_copy, relative, text)
    with pytest.raises(AgentConfigError, match=problem) as caught:
        load_agent_config(ai_copy, "sales")
    assert str(path) in str(caught.value)
    load_agent_config(ai_copy)  # AI/'s own still load


def test_a_profile_may_name_an_extraction_schema_by_dotted_path(ai_copy):
    profile_file(ai_copy, "prompts/extraction.yaml", "schema: tests.extraction.custom_schema.ViewingRequest\n")
    assert load_agent_config(ai_copy, "sales").extraction.schema_path == "tests.extraction.custom_schema.ViewingRequest"
    assert load_agent_config(ai_copy).extraction.schema_path == ""  # AI/'s: EXTRACTION_SCHEMA
    path = profile_file(ai_copy, "prompts/extraction.yaml", "schema: os.system; rm\n")
    with pytest.raises(AgentConfigError, match="schema: String should match pattern") as caught:
        load_agent_config(ai_copy, "sales")
    assert str(path) in str(caught.value)
