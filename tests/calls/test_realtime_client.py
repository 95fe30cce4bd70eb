"""The Realtime socket as the relay uses it: JSON text frames straight onto the SDK's websocket, events back as
namespaces; and the process's client built at start-up rather than in the first call's silence."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from calls.live.realtime_client import _client, _loads, realtime_client, realtime_client_warm, realtime_connect
from simulator.openai_realtime import FakeRealtimeServer, RealtimeScenario, Reply

pytestmark = pytest.mark.django_db


async def test_events_go_out_as_json_text_and_come_back_as_namespaces(settings):
    async with FakeRealtimeServer(RealtimeScenario(replies=[Reply(audio_ms=200)])) as server:
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = server.base_url, server.api_key
        session = await realtime_connect(model="gpt-realtime-mini")
        try:
            await session.send({"type": "session.update", "session": {
                "type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}})
            await session.send({"type": "response.create"})
            await server.wait_for("response.create")
            seen = []
            async for event in session:
                seen.append(event)
                if event.type == "response.output_audio.delta":
                    break
        finally:
            await session.close()
    assert [event["type"] for event in server.received] == ["session.update", "response.create"]
    assert not [event for event in seen if event.type == "error"]  # the fake refuses binary frames
    assert isinstance(seen[0], SimpleNamespace) and seen[0].type == "session.created"
    assert isinstance(seen[-1].delta, str) and seen[-1].response_id


def test_what_orjson_declines_is_still_read_as_the_json_module_reads_it():
    event = _loads(b'{"type": "x", "level": NaN}')
    assert event["type"] == "x" and event["level"] != event["level"]
    with pytest.raises(ValueError):
        _loads(b'{"type": ')


def test_the_client_is_built_at_start_up_not_by_the_first_call(settings):
    settings.OPENAI_API_KEY = "sk-warm"
    _client.cache_clear()
    realtime_client_warm()
    built = _client.cache_info()
    assert built.currsize == 1
    realtime_client()
    assert _client.cache_info().misses == built.misses  # the first call finds it ready


def test_warming_up_without_a_key_is_quiet(settings):
    settings.OPENAI_API_KEY = ""
    realtime_client_warm()
