"""The README's first run: `cp .env.example .env`, then `make run`. A blank line in .env means the default.

The settings are loaded in subprocesses from a copy of settings.py in a temporary directory (its BASE_DIR), so that
no developer's own .env and no variable of the test run's environment can take part.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.processes import ROOT, free_port, wait_for_port

EXAMPLE = ROOT / ".env.example"
EXAMPLE_NAMES = re.findall(r"^([A-Z0-9_]+)=", EXAMPLE.read_text(), re.MULTILINE)
SETTINGS_NAMES = re.findall(r'config\(\s*"([A-Z0-9_]+)"', (ROOT / "voicebot_site" / "settings.py").read_text())
NAMES = sorted(set(EXAMPLE_NAMES) | set(SETTINGS_NAMES))

# Every upper-case name of the settings module, as repr(): what Django would see.
DUMP = (
    "import json, runpy, sys\n"
    "namespace = runpy.run_path(sys.argv[1])\n"
    "print(json.dumps({name: repr(value) for name, value in namespace.items() if name.isupper()}))\n"
)


def environment_without_settings(**extra: str) -> dict[str, str]:
    """This process's environment minus every variable voicebot reads, plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if k not in NAMES}, **extra}


def settings_in(base_dir: Path, env: dict[str, str]) -> dict[str, str]:
    settings_copy = base_dir / "voicebot_site" / "settings.py"
    if not settings_copy.exists():
        settings_copy.parent.mkdir(parents=True)
        shutil.copy(ROOT / "voicebot_site" / "settings.py", settings_copy)
    result = subprocess.run([sys.executable, "-c", DUMP, str(settings_copy)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_line_of_env_example_is_a_setting_with_its_default_there():
    assert set(EXAMPLE_NAMES) == set(SETTINGS_NAMES)


def test_a_blank_variable_means_its_default(tmp_path):
    defaults = settings_in(tmp_path, environment_without_settings())
    blank = settings_in(tmp_path, environment_without_settings(**dict.fromkeys(NAMES, "")))
    assert defaults["DATABASES"] == blank["DATABASES"] and str(tmp_path / "db.sqlite3") in defaults["DATABASES"]
    assert {name: value for name, value in blank.items() if value != defaults[name]} == {}


def test_a_copy_of_env_example_as_env_gives_every_default(tmp_path):
    defaults = settings_in(tmp_path, environment_without_settings())
    shutil.copy(EXAMPLE, tmp_path / ".env")
    copied = settings_in(tmp_path, environment_without_settings())
    assert {name: value for name, value in copied.items() if value != defaults[name]} == {}


def test_sqlite_named_by_database_url_gets_the_same_options_as_sqlite_path(tmp_path):
    # People write DATABASE_URL=sqlite:///...: it must not drop WAL, IMMEDIATE and the busy timeout.
    by_path = settings_in(tmp_path, environment_without_settings(SQLITE_PATH="/tmp/x.sqlite3"))
    by_url = settings_in(tmp_path, environment_without_settings(DATABASE_URL="sqlite:////tmp/x.sqlite3"))
    by_path_db, by_url_db = eval(by_path["DATABASES"])["default"], eval(by_url["DATABASES"])["default"]
    assert by_url_db["NAME"] == by_path_db["NAME"] == "/tmp/x.sqlite3"
    assert by_url_db["OPTIONS"] == by_path_db["OPTIONS"]
    assert by_url_db["OPTIONS"]["transaction_mode"] == "IMMEDIATE" and by_url_db["OPTIONS"]["timeout"] >= 5


def test_a_sqlite_database_url_connection_is_in_wal_mode_with_a_busy_timeout(tmp_path):
    script = (
        "import django; django.setup()\n"
        "from django.db import connection\n"
        "with connection.cursor() as cursor:\n"
        "    mode = cursor.execute('PRAGMA journal_mode').fetchone()[0]\n"
        "    print(mode, cursor.execute('PRAGMA busy_timeout').fetchone()[0])\n"
    )
    env = environment_without_settings(
        DATABASE_URL=f"sqlite:///{tmp_path}/url.sqlite3", SECRET_KEY="x" * 50,
        DJANGO_SETTINGS_MODULE="voicebot_site.settings",
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    journal_mode, busy_timeout_ms = result.stdout.split()
    assert journal_mode == "wal" and int(busy_timeout_ms) >= 5000


def test_without_a_configured_key_each_checkout_makes_its_own_private_random_key_once(tmp_path):
    env = environment_without_settings(DEBUG="True")
    first = settings_in(tmp_path / "one", env)["SECRET_KEY"]
    assert settings_in(tmp_path / "one", env)["SECRET_KEY"] == first, "kept across starts"
    assert settings_in(tmp_path / "two", env)["SECRET_KEY"] != first, "never a constant from the repository"
    key_file = tmp_path / "one" / ".secret_key"
    assert repr(key_file.read_text()) == first and len(key_file.read_text()) >= 50
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert subprocess.run(["git", "check-ignore", "-q", ".secret_key"], cwd=ROOT).returncode == 0, "git-ignored"


def test_processes_starting_at_once_agree_on_one_key(tmp_path):
    settings_in(tmp_path, environment_without_settings(SECRET_KEY="x" * 50))  # only copies settings.py there
    script = "import runpy, sys; print(runpy.run_path(sys.argv[1])['SECRET_KEY'])"
    starts = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "voicebot_site" / "settings.py")],
                               cwd=ROOT, env=environment_without_settings(), stdout=subprocess.PIPE, text=True)
              for _ in range(8)]
    keys = {process.communicate(timeout=60)[0].strip() for process in starts}
    assert len(keys) == 1 and keys == {(tmp_path / ".secret_key").read_text()}
    assert sorted(path.name for path in tmp_path.iterdir()) == [".secret_key", "voicebot_site"], "no temporary left"


def test_a_configured_key_is_used_and_no_file_is_made(tmp_path):
    assert settings_in(tmp_path, environment_without_settings(SECRET_KEY="k" * 50))["SECRET_KEY"] == repr("k" * 50)
    assert not (tmp_path / ".secret_key").exists()


def test_production_without_a_configured_key_refuses_to_start(tmp_path):
    settings_in(tmp_path, environment_without_settings(SECRET_KEY="x" * 50))
    result = subprocess.run(
        [sys.executable, "-c", DUMP, str(tmp_path / "voicebot_site" / "settings.py")], cwd=ROOT, capture_output=True,
        text=True, timeout=60, env=environment_without_settings(DEBUG="False", ALLOWED_HOSTS="voicebot.example"),
    )
    assert result.returncode != 0 and "DEBUG=False requires SECRET_KEY" in result.stderr
    assert not (tmp_path / ".secret_key").exists(), "a production key is configured, never made on one host"


@pytest.mark.slow
def test_make_run_serves_the_admin_from_a_fresh_checkout_with_the_example_env(tmp_path):
    """`make run` is `manage.py migrate` + `manage.py serve`: run here in a copy of the tracked files, with
    .env.example copied to .env, on this test run's Python (no new virtualenv). Only the port is set outside .env:
    tests may run side by side."""
    checkout = tmp_path / "voicebot"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
    for name in filter(None, tracked.stdout.split("\0")):
        if (ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, checkout / name)
    shutil.copy(checkout / ".env.example", checkout / ".env")
    port = free_port()
    env = environment_without_settings(PORT=str(port), PYTHONUNBUFFERED="1")

    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=checkout, env=env,
                             capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr
    log = (tmp_path / "serve.log").open("w")
    serve = subprocess.Popen([sys.executable, "manage.py", "serve"], cwd=checkout, env=env, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, process=serve, timeout=90)
        response = requests.get(f"http://127.0.0.1:{port}/admin/", timeout=30)
        assert response.status_code == 200 and response.url.endswith("/admin/login/?next=/admin/")
        assert 'name="username"' in response.text
    finally:
        os.killpg(serve.pid, signal.SIGINT)
        serve.wait(timeout=30)
        log.close()
    output = (tmp_path / "serve.log").read_text()
    assert "schedule calls-reconcile-stale" in output and "purge old recordings" in output, output
    key_file = checkout / ".secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
