"""The start-up check of the bot's configuration: AI/ and every agent profile load as a call would load them, so a
broken file shows at start-up (and in `manage.py check`), not on the first call or campaign that uses it."""
from calls.agent_config import PROFILES
from calls.checks import agent_config_check


def _write(ai_copy, relative: str, text: str, profile: str = "") -> str:
    path = (ai_copy / PROFILES / profile / relative) if profile else ai_copy / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_the_shipped_configuration_and_profiles_pass(ai_copy):
    assert list((ai_copy / PROFILES).iterdir()), "the example profile is checked too"
    assert agent_config_check(None) == []


def test_a_broken_profile_file_is_an_error_naming_the_profile_and_the_file(ai_copy):
    path = _write(ai_copy, "prompts/agent.yaml", "persona: [not, text]\n", profile="ventas")
    (error,) = agent_config_check(None)
    assert error.id == "calls.E002" and "Agent profile 'ventas'" in error.msg and path in error.msg


def test_a_profile_whose_extraction_schema_does_not_import_is_an_error(ai_copy):
    _write(ai_copy, "prompts/extraction.yaml", "schema: tests.extraction.custom_schema.Missing\n", profile="otro")
    (error,) = agent_config_check(None)
    assert error.id == "calls.E002" and "'otro'" in error.msg and "custom_schema.Missing" in error.msg


def test_a_broken_file_of_ai_itself_is_an_error(ai_copy):
    path = _write(ai_copy, "tools/tools.yaml", "tools: 3\n")
    errors = agent_config_check(None)
    assert errors and all(error.id == "calls.E002" for error in errors)
    assert "AI_CONFIG_DIR" in errors[0].msg and path in errors[0].msg
