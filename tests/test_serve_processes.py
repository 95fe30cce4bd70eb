"""`manage.py serve --web-processes N` (`make run`, WEB_PROCESSES): N Daphne processes behind one port.

Real processes through real sockets. Which process accepted which connection is read from /proc (the established
connections on the port, matched to each process's descriptors): no header or test hook in the product says it.
"""
import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from django.core.management import CommandError, call_command

from simulator.openai_realtime import CalleeTurn, FakeRealtimeServer, RealtimeScenario, Reply
from simulator.phone import SimulatedPhones
from simulator.twilio import FakeTwilio
from simulator.polling import wait_for
from tests.processes import (
    ROOT, Stack, child_pids, connection_accepted_by, json_request, serving_pids, tcp_connections,
)
from tests.test_scale_out import _redis_waiters
from voicebot_site.web_processes import WEB_PROCESSES_AUTO_MAX, web_processes_count

PUBLIC_BASE_URL = "https://voicebot.example"
NUMBER = "+34600123456"


# ---- the count and the refusals: no process is started ---------------------------------------------------------


def test_auto_is_the_usable_cores_within_the_cap_and_a_number_is_taken_as_is():
    assert web_processes_count("auto") == min(len(os.sched_getaffinity(0)), WEB_PROCESSES_AUTO_MAX)
    assert web_processes_count(" AUTO ") == web_processes_count("auto")
    assert web_processes_count("3") == 3


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", "65", ""])
def test_a_count_that_is_not_auto_or_1_to_64_is_refused(value):
    with pytest.raises(ValueError, match="WEB_PROCESSES must be `auto` or a whole number from 1 to 64"):
        web_processes_count(value)


def test_a_bad_web_processes_setting_stops_every_command_with_its_name():
    env = {**os.environ, "WEB_PROCESSES": "many"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0 and "WEB_PROCESSES must be `auto` or a whole number" in result.stderr


@pytest.mark.django_db
def test_serve_refuses_a_bad_count_a_port_in_use_and_several_processes_on_ipv6():
    with pytest.raises(CommandError, match="--web-processes: WEB_PROCESSES must be"):
        call_command("serve", "--web-processes", "0")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(CommandError, match=f"Cannot listen on 127.0.0.1:{taken.getsockname()[1]}"):
            call_command("serve", "--port", str(taken.getsockname()[1]), "--no-worker", "--skip-checks")
    with pytest.raises(CommandError, match="HOST ::1 is IPv6: several web processes share an IPv4 socket only"):
        call_command("serve", "--host", "::1", "--web-processes", "2", "--skip-checks")


# ---- real processes ----------------------------------------------------------------------------------------------


@pytest.fixture
def world(tmp_path):
    with FakeTwilio(public_base_url=PUBLIC_BASE_URL) as twilio:
        stack = Stack(tmp_path, extra_env={**twilio.voicebot_env(), "MAKE_CALL_TIMEOUT": "60", "Q_WORKERS": "1"})
        try:
            stack.prepare()
            yield stack, twilio
        finally:
            stack.stop_all()


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"  # not yet reaped
    except OSError:
        return True


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


@pytest.mark.slow
def test_n_daphne_processes_serve_one_port_and_sigterm_stops_them_all(world):
    stack, _ = world
    port, serve = stack.start_serve("--web-processes", "2")
    daphnes = serving_pids(port, serve, 2)  # each one accepted connections on the port
    everyone = child_pids(serve.pid)
    assert len(everyone) == 3, "two Daphne processes and the worker"
    for pid in daphnes:
        assert b"daphne\0--fd" in Path(f"/proc/{pid}/cmdline").read_bytes(), "Daphne on the inherited socket"
    answers = [requests.get(f"http://127.0.0.1:{port}/admin/login/", timeout=10) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200] * 4
    assert "2 web processes + a worker" in stack.logs()

    serve.send_signal(signal.SIGTERM)
    assert serve.wait(timeout=40) == 0
    assert all(_gone(pid) for pid in everyone), "no process outlives serve"
    assert _refused(port)


@pytest.mark.slow
def test_one_dead_web_process_stops_everything_with_an_error(world):
    stack, _ = world
    port, serve = stack.start_serve("--web-processes", "2", "--no-worker")
    victim, survivor = serving_pids(port, serve, 2)
    os.kill(victim, signal.SIGKILL)
    assert serve.wait(timeout=40) == 1
    assert _gone(survivor) and _refused(port)
    assert f"A voicebot process exited unexpectedly: Daphne (pid {victim}, exit status -9)" in stack.logs()


@pytest.mark.slow
def test_a_killed_serve_takes_its_processes_with_it(world):
    stack, _ = world
    port, serve = stack.start_serve("--web-processes", "2")
    serving_pids(port, serve, 2)
    everyone = child_pids(serve.pid)
    serve.kill()  # SIGKILL: no handler runs in serve; the kernel tells the children (PR_SET_PDEATHSIG)
    serve.wait()
    wait_for(lambda: all(_gone(pid) for pid in everyone), timeout=30, what="the orphaned processes to end")
    assert _refused(port), "nothing holds the port: a restarted serve can bind it"


@pytest.mark.slow
def test_make_call_waiting_in_one_process_is_woken_by_callbacks_landing_on_the_other(world):
    # Without Redis the wake-up is the waiter's own re-read of the database (every 2 s); with Redis (make
    # test-scale) the waiter has also subscribed to the call's group there.
    stack, twilio = world
    port, serve = stack.start_serve("--web-processes", "2", "--no-worker")
    pids = serving_pids(port, serve, 2)
    waiter, waiter_pid = connection_accepted_by(port, pids, wanted=lambda pid: True)
    answer: dict = {}

    def make_call() -> None:
        answer["status"], answer["body"] = json_request(waiter, "POST", "/make_call", token=stack.token,
                                                        body={"phone_number": NUMBER})

    waiting = threading.Thread(target=make_call)
    waiting.start()
    sent = wait_for(lambda: twilio.calls and twilio.last_call, timeout=30, what="the call to be dialled")
    if stack.env.get("REDIS_URL"):
        code = urlsplit(sent.status_callback_url).path.rstrip("/").rpartition("/")[2]  # /twilio/status/<code>
        wait_for(lambda: _redis_waiters(stack, code), timeout=10, what="/make_call to subscribe in Redis")

    other, other_pid = connection_accepted_by(port, pids, wanted=lambda pid: pid != waiter_pid)
    for hook in twilio.status_callbacks(sent.sid, ["initiated", "ringing", "in-progress", "completed"], duration=9):
        assert hook.post_on(other) == 200
    waiting.join(timeout=30)

    assert other_pid != waiter_pid and tcp_connections(port, [waiter_pid])[waiter_pid], "still on the first process"
    assert answer["status"] == 200, answer
    assert answer["body"]["call_status"] == "completed" and answer["body"]["call_sid"] == sent.sid
    waiter.close()
    other.close()


@pytest.mark.slow
async def test_a_whole_call_with_its_media_stream_goes_through_serve_with_two_web_processes(tmp_path):
    scenario = RealtimeScenario(
        callee_turns=[CalleeTurn(after_ms=1000, speech_ms=1500, transcript="Busco un piso en Madrid.")],
        replies=[Reply("Hola, le llamo de la agencia.", audio_ms=600), Reply(end_call="informacion_completa"),
                 Reply("Adiós.", audio_ms=400)])
    async with FakeRealtimeServer(scenario) as realtime:
        with FakeTwilio(public_base_url=PUBLIC_BASE_URL) as twilio:
            stack = Stack(tmp_path, extra_env={
                **twilio.voicebot_env(), "OPENAI_BASE_URL": realtime.base_url, "OPENAI_API_KEY": realtime.api_key,
                "CALL_DURATION_LIMIT": "30", "SILENCE_TIMEOUT": "0", "AMD_MODE": "off", "MAKE_CALL_TIMEOUT": "60",
            })
            try:
                await asyncio.to_thread(stack.prepare)
                port, serve = await asyncio.to_thread(stack.start_serve, "--web-processes", "2", "--no-worker")
                await asyncio.to_thread(serving_pids, port, serve, 2)
                url = f"http://127.0.0.1:{port}"
                async with SimulatedPhones(twilio, url, hang_up_after_s=25) as phones:
                    response = await asyncio.to_thread(
                        requests.post, url + "/make_call", json={"phone_number": NUMBER}, timeout=70,
                        headers={"Authorization": f"Token {stack.token}"})
                    assert response.status_code == 200, (response.text, stack.logs())
                    body = response.json()
                    outcome = phones.outcomes[body["call_sid"]]
                assert body["call_status"] == "completed" and body["audio_file_name"].endswith(".wav")
                assert outcome.ended_by in ("voicebot", "stream_closed") and not outcome.media.protocol_errors
                recording = await asyncio.to_thread(requests.get, f"{url}/{body['audio_file_name']}", timeout=10,
                                                    headers={"Authorization": f"Token {stack.token}"})
                assert recording.status_code == 200 and len(recording.content) > 8000, "the stream was recorded"
                assert not realtime.errors, realtime.errors
            finally:
                await asyncio.to_thread(stack.stop_all)
