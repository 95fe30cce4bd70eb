"""Demo mode (`make demo`): the simulator never runs outside it, the product in it never reaches a real provider,
its data is seeded once, and every page says so."""
import json
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from contacts.models import Contact
from tests.processes import ROOT
from tests.test_first_run import environment_without_settings
from voicebot_site.demo_data import DEMO_CONTACTS, DEMO_GROUP, DEMO_USERNAME, demo_data_seed
from voicebot_site.management.commands.demo import demo_environment

BANNER = "Demo mode — calls are simulated, nobody is phoned."
SIMULATED = {"TWILIO_API_BASE_URL": "http://127.0.0.1:9001", "OPENAI_BASE_URL": "http://127.0.0.1:9002/v1",
             "OPENAI_REALTIME_BASE_URL": "ws://127.0.0.1:9003/v1"}


def _check(**env: str) -> subprocess.CompletedProcess:
    """`manage.py check` (the settings loaded as any process of the product loads them) with `env`."""
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=environment_without_settings(**env))


def test_the_product_starts_in_demo_mode_on_the_simulators_addresses():
    result = _check(DEMO_MODE="true", **SIMULATED)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name, real", [
    ("TWILIO_API_BASE_URL", "https://api.twilio.com"),
    ("OPENAI_BASE_URL", "https://api.openai.com/v1"),
    ("OPENAI_REALTIME_BASE_URL", "wss://api.openai.com/v1"),
])
def test_the_product_refuses_to_start_in_demo_mode_with_a_real_providers_address(name, real):
    result = _check(DEMO_MODE="true", **{**SIMULATED, name: real})
    assert result.returncode != 0
    assert "DEMO_MODE is on" in result.stderr and f"{name}={real}" in result.stderr


def test_the_product_refuses_demo_mode_with_the_default_addresses():
    """DEMO_MODE=true in a real .env, nothing else changed: Twilio's and OpenAI's own addresses are refused."""
    result = _check(DEMO_MODE="true")
    assert result.returncode != 0
    assert "TWILIO_API_BASE_URL=https://api.twilio.com" in result.stderr
    assert "OPENAI_BASE_URL=https://api.openai.com/v1" in result.stderr


def _simulator(**env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "simulator", "--product-url", "http://127.0.0.1:6060"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=environment_without_settings(**env))


@pytest.mark.parametrize("demo_mode", [None, "false"])
def test_the_simulator_refuses_to_run_outside_demo_mode(demo_mode):
    process = _simulator(**({} if demo_mode is None else {"DEMO_MODE": demo_mode}))
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2 and out == ""
    assert "demo mode only" in err


def test_the_simulator_runs_in_demo_mode_on_loopback_addresses():
    process = _simulator(DEMO_MODE="true")
    try:
        env = json.loads(process.stdout.readline())
    finally:
        process.terminate()
        process.wait(timeout=30)
    addresses = [env[name] for name in SIMULATED]
    assert {urlsplit(url).hostname for url in addresses} == {"127.0.0.1"}
    assert process.returncode == 0  # SIGTERM stops it cleanly


def test_the_demo_keeps_its_data_in_its_own_folder(tmp_path):
    env = demo_environment(folder=tmp_path, port=8001)
    assert env["DEMO_MODE"] == "true" and env["PORT"] == "8001" and env["HOST"] == "127.0.0.1"
    assert env["SQLITE_PATH"].startswith(str(tmp_path)) and env["MEDIA_ROOT"].startswith(str(tmp_path))
    assert env["DATABASE_URL"] == "" and env["REDIS_URL"] == ""  # never the .env's database or Redis
    assert env["ALLOWED_HOSTS"] == "" and env["SECURE_SSL_REDIRECT"] == ""  # a production .env's: defaults again


@pytest.mark.django_db
def test_seeding_twice_adds_nothing_twice_and_gives_a_new_password():
    demo_data_seed(password="first-password")
    user = demo_data_seed(password="second-password")
    assert sorted(Contact.objects.values_list("phone_number", flat=True)) == [n for n, _ in DEMO_CONTACTS]
    assert User.objects.filter(username=DEMO_USERNAME).count() == 1
    assert user.is_staff and not user.is_superuser and user.groups.filter(name=DEMO_GROUP).exists()
    assert user.check_password("second-password") and not user.check_password("first-password")
    assert user.has_perm("calls.place_call") and user.has_perm("campaigns.add_campaign")


@pytest.mark.django_db
def test_demo_seed_prints_the_login_in_demo_mode_only(settings, capsys):
    with pytest.raises(CommandError, match="demo mode only"):
        call_command("demo_seed")
    assert not User.objects.filter(username=DEMO_USERNAME).exists()
    settings.DEMO_MODE = True
    call_command("demo_seed")
    password = capsys.readouterr().out.split("password: ")[1].strip()
    assert User.objects.get(username=DEMO_USERNAME).check_password(password)


@pytest.mark.django_db
@pytest.mark.parametrize("demo_mode", [True, False])
def test_every_page_shows_the_banner_in_demo_mode_only(settings, client, demo_mode):
    settings.DEMO_MODE = demo_mode
    user = demo_data_seed(password="pw-demo")
    login_page = client.get("/admin/login/").content.decode()
    client.force_login(user)
    pages = [login_page] + [client.get(path).content.decode()
                            for path in ("/admin/", "/admin/contacts/contact/", "/admin/calls/call/")]
    assert [BANNER in page for page in pages] == [demo_mode] * 4
