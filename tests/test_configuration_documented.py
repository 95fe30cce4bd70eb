"""Every environment variable settings.py reads is listed in .env.example and in the README's table."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAMES = sorted(set(re.findall(r'config\(\s*"([A-Z0-9_]+)"', (ROOT / "voicebot_site" / "settings.py").read_text())))


def test_settings_read_variables():
    assert {"DEBUG", "DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY", "TWILIO_AUTH_TOKEN"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_it_is_in_env_example(name):
    assert re.search(rf"^{name}=", (ROOT / ".env.example").read_text(), re.MULTILINE), f"{name} not in .env.example"


@pytest.mark.parametrize("name", NAMES)
def test_it_is_in_the_readme(name):
    assert f"`{name}`" in (ROOT / "README.md").read_text(), f"{name} not documented in README.md"
