"""What reaches the logs: no line forged or bloated by a request's values, no secret at any level.

The log lines are read both as pytest captures them (caplog) and as the product writes them: through the console
handler settings.LOGGING configures, pointed at a buffer for the test.
"""
from __future__ import annotations

import io
import logging

import pytest

from calls.services import place_call
from tests.calls.test_consumers import TwilioStream, dial, live, realtime, stream_url  # noqa: F401 (live: a fixture)
from tests.calls.test_recording_files import short_call
from simulator.openai_realtime import CalleeTurn, RealtimeScenario, Reply
from voicebot_site.log_safety import LOGGED_VALUE_MAX_CHARS, log_value

FORGED = "CA123\n2026-11-27 03:00:00,000 INFO calls.services.status Call status sid=CA999 completed\x1b[2J"


@pytest.fixture
def written_log():
    """What the product's console handler writes during the test (its stream swapped for a buffer)."""
    handler = next(h for h in logging.getLogger().handlers if h.name == "console")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def lines_about(caplog, text: str) -> list[str]:
    return [record.getMessage() for record in caplog.records if text in record.getMessage()]


def assert_one_short_line(message: str) -> None:
    assert "\n" not in message and "\r" not in message and "\x1b" not in message
    assert len(message) < 2 * LOGGED_VALUE_MAX_CHARS + 100


@pytest.mark.django_db
def test_an_unsigned_webhook_can_neither_forge_a_line_nor_fill_the_disk(client, fake_twilio, caplog, written_log):
    huge = FORGED + "x" * 2_000_000
    response = client.post("/twilio/status", {"CallSid": huge, "CallStatus": "completed"})
    assert response.status_code == 403
    [message] = lines_about(caplog, "Refused unsigned or forged")
    assert_one_short_line(message)
    assert "CA123\\n2026" in message and "[2000" in message  # escaped, and how long it really was
    written = written_log.getvalue()
    assert "Call status sid=CA999" in written and len(written) < 600
    assert not any(line.startswith("2026-11-27 03:00:00,000") for line in written.splitlines()), "no forged line"


@pytest.mark.django_db
def test_a_signed_webhook_with_an_unknown_status_is_logged_escaped(client, fake_twilio, caplog):
    call = place_call(phone_number="+34600111222")
    hook = fake_twilio.status_callback(call.twilio_sid, "ringing")
    hook = fake_twilio.sign(hook.url, {**hook.params, "CallStatus": FORGED + "y" * 10_000})
    assert hook.post(client).status_code == 400
    [message] = lines_about(caplog, "unknown CallStatus")
    assert_one_short_line(message)


@pytest.mark.django_db(transaction=True)
async def test_a_start_frame_cannot_forge_a_line(settings, live, caplog):  # noqa: F811 (the fixture)
    async with realtime(settings) as server:
        call, _ = await dial(live)
        twilio = TwilioStream(FORGED + "z" * 50_000, "not-a-token", url=stream_url(call.code))
        assert (await twilio.open())[0]
        await twilio.start()
        await twilio.closed.wait()
    assert twilio.close_code == 4403 and server.handshakes == []
    [message] = lines_about(caplog, "Media stream refused")
    assert_one_short_line(message)


@pytest.mark.django_db(transaction=True)
async def test_a_whole_call_at_debug_level_logs_no_key(settings, live, caplog, written_log):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    scenario = RealtimeScenario(callee_turns=[CalleeTurn(after_ms=200, speech_ms=400, transcript="Hola.")],
                                replies=[Reply("Hola, soy Lucía.", audio_ms=200)])
    _, api_key = await short_call(settings, live, scenario)
    assert len(caplog.records) > 20, "a real debug-level log"
    secrets = (api_key, settings.TWILIO_AUTH_TOKEN)
    for text in (caplog.text, written_log.getvalue()):
        assert all(secret not in text for secret in secrets)
        assert "Bearer sk-" not in text


def test_no_secret_reaches_the_log_whoever_logs_it(settings, caplog, written_log):
    settings.OPENAI_API_KEY, settings.TWILIO_AUTH_TOKEN = "sk-live-0123456789abcdef", "f00dfeedf00dfeedf00dfeed"
    caplog.set_level(logging.DEBUG)
    some_library = logging.getLogger("some.library")
    some_library.debug("> Authorization: Bearer %s", "sk-other-key-9876543210")
    some_library.info("headers %s", {"authorization": "Token 0123456789abcdef0123"})
    some_library.warning("connecting to postgres://voicebot:hunter2-password@db:5432/voicebot")
    try:
        raise RuntimeError(f"refused key {settings.OPENAI_API_KEY} for token {settings.TWILIO_AUTH_TOKEN}")
    except RuntimeError:
        some_library.exception("request failed")
    written = written_log.getvalue()
    for text in (caplog.text, written):
        for secret in ("sk-live-0123456789abcdef", "f00dfeedf00dfeedf00dfeed", "sk-other-key-9876543210",
                       "0123456789abcdef0123", "hunter2-password"):
            assert secret not in text
    assert "request failed" in written and "RuntimeError: refused key [redacted]" in written  # the traceback stays


@pytest.mark.parametrize("value, shown", [
    ("CA0123", "CA0123"), (None, "None"), ("a\nb\rc\td\x00", "a\\nb\\rc\\td\\x00"), ("é\u2028", "é\\u2028"),
])
def test_a_short_request_value_is_logged_escaped_but_whole(value, shown):
    assert log_value(value) == shown
