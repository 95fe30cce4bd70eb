"""AI/ for HTTP tools, per-profile tools, the tool filler and the keypad: what loads, what fails at load (never
mid-call), and what reaches the relay's settings."""
from __future__ import annotations

import pytest

from calls.agent_config import PROFILES, AgentConfigError, load_agent_config, relay_settings

END_CALL = ("  - name: end_call\n    description: Cuelga.\n"
            "    parameters: {type: object, properties: {reason: {type: string}}}\n")
HTTP_TOOL = ("  - name: check_availability\n    description: Mira visitas libres.\n"
             "    http: {url: 'https://crm.example.com/a', headers: {Authorization: 'env:CRM_TOKEN'}, timeout: 3}\n")


def tools_file(ai_copy, extra: str) -> None:
    (ai_copy / "tools" / "tools.yaml").write_text("tools:\n" + END_CALL + extra, encoding="utf-8")


def settings_of(config):
    return relay_settings(config, voice="coral", transcription_model="whisper-1", language="es",
                          duration_limit_s=0)


def test_an_http_tool_loads_and_is_offered_to_the_model_without_its_endpoint(ai_copy, monkeypatch):
    monkeypatch.setenv("CRM_TOKEN", "Bearer x")
    tools_file(ai_copy, HTTP_TOOL)
    [_, tool] = load_agent_config(ai_copy).tools
    assert (tool.http.url, tool.http.method, tool.http.timeout) == ("https://crm.example.com/a", "POST", 3)
    wire = settings_of(load_agent_config(ai_copy)).tools[1]
    assert wire == {"type": "function", "name": "check_availability", "description": "Mira visitas libres.",
                    "parameters": {"type": "object", "properties": {}}}


def test_an_unset_header_variable_fails_when_the_files_load(ai_copy, monkeypatch):
    monkeypatch.delenv("CRM_TOKEN", raising=False)
    tools_file(ai_copy, HTTP_TOOL)
    with pytest.raises(AgentConfigError, match=r"tools\.yaml.*CRM_TOKEN is not set"):
        load_agent_config(ai_copy)


def test_a_tool_limited_to_a_profile_is_offered_to_that_profile_only(ai_copy):
    tools_file(ai_copy, "  - name: book_visit\n    description: Reserva.\n    profiles: [ventas]\n")
    assert [tool.name for tool in load_agent_config(ai_copy).tools] == ["end_call"]
    assert [tool.name for tool in load_agent_config(ai_copy, "ventas").tools] == ["end_call", "book_visit"]
    (ai_copy / PROFILES / "soporte").mkdir()
    assert [tool.name for tool in load_agent_config(ai_copy, "soporte").tools] == ["end_call"]


def test_a_tool_limited_to_a_profile_that_does_not_exist_fails(ai_copy):
    tools_file(ai_copy, "  - name: book_visit\n    description: Reserva.\n    profiles: [vnetas]\n")
    with pytest.raises(AgentConfigError, match="no agent profile 'vnetas'"):
        load_agent_config(ai_copy)


def test_end_call_takes_no_endpoint(ai_copy):
    (ai_copy / "tools" / "tools.yaml").write_text(
        "tools:\n" + END_CALL + "    http: {url: 'https://crm.example.com/a'}\n", encoding="utf-8")
    with pytest.raises(AgentConfigError, match="end_call is the relay's own"):
        load_agent_config(ai_copy)


def test_the_filler_and_the_keypad_reach_the_relay(ai_copy):
    relay = settings_of(load_agent_config(ai_copy))
    assert "Un momento, lo compruebo." in relay.tool_filler_instruction
    assert relay.keypad_message == "El cliente ha pulsado la tecla {digit} del teléfono."


def test_a_profile_turns_the_keypad_and_the_filler_off(ai_copy):
    path = ai_copy / PROFILES / "ventas" / "prompts" / "agent.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "keypad: {enabled: false}\ntool_filler: ''\n",
                    encoding="utf-8")
    relay = settings_of(load_agent_config(ai_copy, "ventas"))
    assert (relay.keypad_message, relay.tool_filler_instruction) == ("", "")
    assert settings_of(load_agent_config(ai_copy)).keypad_message  # the default agent keeps it


def test_a_keypad_message_without_the_digit_fails(ai_copy):
    path = ai_copy / "prompts" / "agent.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("tecla {digit} del", "tecla del"), encoding="utf-8")
    with pytest.raises(AgentConfigError, match=r"keypad\.message: Value error, must contain \{digit\}"):
        load_agent_config(ai_copy)


def test_the_system_check_warns_when_an_http_tool_has_no_signing_secret(ai_copy, settings, monkeypatch):
    from calls.checks import http_tools_check

    monkeypatch.setenv("CRM_TOKEN", "Bearer x")
    settings.TOOLS_SIGNING_SECRET = ""
    assert http_tools_check(None) == []  # no HTTP tool: nothing to sign
    tools_file(ai_copy, HTTP_TOOL)
    [warning] = http_tools_check(None)
    assert warning.id == "calls.W004" and "check_availability" in warning.msg
    settings.TOOLS_SIGNING_SECRET = "s3cret"
    assert http_tools_check(None) == []
