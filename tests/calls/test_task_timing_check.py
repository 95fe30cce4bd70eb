"""The task queue loses nothing: the database broker even with Redis, and a system check that refuses timings under
which a task would run twice at once."""
import os
import subprocess
import sys

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from extraction.services import process_call_timeout
from tests.processes import ROOT


def _errors(settings, *, timeout: int, retry: int) -> list[str]:
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": timeout, "retry": retry}
    return [message.id for message in checks.run_checks() if message.level >= checks.ERROR]


def test_the_default_timings_pass(settings):
    assert _errors(settings, timeout=1800, retry=1900) == []


@pytest.mark.parametrize("timeout, retry", [(1900, 1800), (1800, 1800)])
def test_retry_not_above_timeout_is_an_error(settings, timeout, retry):
    assert _errors(settings, timeout=timeout, retry=retry) == ["calls.E001"]


def test_post_call_processing_times_out_before_it_could_be_handed_out_again(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 30, "retry": 50}
    assert process_call_timeout() <= 30 < 50


def test_the_server_refuses_to_start_with_it(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 600, "retry": 300}
    with pytest.raises(SystemCheckError, match="Q_RETRY"):
        call_command("check")


def test_tasks_queue_in_the_database_even_with_redis_configured():
    # Redis's broker pops a task on pick-up: a worker killed mid-task would lose it (tests/e2e/test_worker_crash.py).
    script = "from django.conf import settings; print(settings.Q_CLUSTER.get('orm'), settings.Q_CLUSTER.get('redis'))"
    env = {**os.environ, "REDIS_URL": "redis://127.0.0.1:6379/0", "DJANGO_SETTINGS_MODULE": "voicebot_site.settings"}
    result = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {script}"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["default", "None"], result.stderr
