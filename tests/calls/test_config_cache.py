"""The live call's AI/ files are parsed once per version: an edit, a new profile file or a broken file is seen by the
next call, never a stale or half-valid configuration."""
import os

import pytest

from calls.agent_config import AgentConfigError
from calls.live.config_cache import agent_config_cached


def _touch_later(path):
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))


def test_it_parses_once_and_again_after_an_edit(ai_copy):
    first = agent_config_cached(ai_copy)
    assert agent_config_cached(ai_copy) is first
    agent = ai_copy / "prompts" / "agent.yaml"
    agent.write_text(agent.read_text(encoding="utf-8").replace("Hola, buenas.", "Buenos días."), encoding="utf-8")
    _touch_later(agent)
    edited = agent_config_cached(ai_copy)
    assert edited is not first and edited.agent.opening_line.startswith("Buenos días.")


def test_a_profile_file_added_later_is_seen(ai_copy):
    before = agent_config_cached(ai_copy, "ventas")
    (ai_copy / "profiles" / "ventas" / "prompts").mkdir(exist_ok=True)
    (ai_copy / "profiles" / "ventas" / "prompts" / "transcription.yaml").write_text("prompt: Tres Cantos\n")
    after = agent_config_cached(ai_copy, "ventas")
    assert after is not before and after.transcription.prompt == "Tres Cantos"


def test_a_broken_file_raises_every_time(ai_copy):
    agent_config_cached(ai_copy)
    tools = ai_copy / "tools" / "tools.yaml"
    tools.write_text("tools: [unclosed\n", encoding="utf-8")
    _touch_later(tools)
    for _ in range(2):
        with pytest.raises(AgentConfigError, match="tools.yaml"):
            agent_config_cached(ai_copy)
