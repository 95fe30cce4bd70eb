"""The live call page's socket (`/ws/calls/<id>/live`) through the real router and the in-memory channel layer, and
the feed that publishes a live call's relay events to it without ever holding up the call."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import Client

from calls.live import monitor
from calls.live.monitor import MonitorFeed, monitor_message
from calls.live.relay import events
from calls.live.routing import websocket_urlpatterns
from calls.models import CallEvent, CallStatus
from calls.services import call_update_status
from calls.exceptions import CallError
from calls.services.monitoring import call_whisper, monitor_groups
from tests.calls import test_consumers
from tests.calls.test_consumers import FRAME, answered_call
from tests.conftest import role_group
from simulator.openai_realtime import CalleeTurn, RealtimeScenario, Reply
from simulator.polling import async_wait_for
from tests.factories import CallFactory

pytestmark = pytest.mark.django_db(transaction=True)

application = URLRouter(websocket_urlpatterns)
live, callee_audio = test_consumers.live, test_consumers.callee_audio  # the media consumer's tests' fixtures
ORIGIN = (b"origin", b"http://localhost")


@pytest.fixture(autouse=True)
def _in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def watch(call, user=None, *, origin: tuple[bytes, bytes] = ORIGIN) -> WebsocketCommunicator:
    return await watch_on("live", call, user, origin=origin)


async def watch_on(socket: str, call, user=None, *, origin: tuple[bytes, bytes] = ORIGIN) -> WebsocketCommunicator:
    headers = [origin]
    if user is not None:
        headers.append((b"cookie", await sync_to_async(session_cookie)(user)))
    return WebsocketCommunicator(application, f"/ws/calls/{call.pk}/{socket}", headers=headers)


@pytest.fixture
def live_call():
    return CallFactory(twilio_sid="CA" + "1" * 32, status=CallStatus.IN_PROGRESS, stream_sid="MZ" + "2" * 32,
                       live_transcript=[{"speaker": "bot", "text": "Hola.", "start_ms": 100, "end_ms": 900}])


@pytest.fixture
def agent(django_user_model):
    user = django_user_model.objects.create_user("ana", "ana@example.com", "pw-ana", is_staff=True)
    user.groups.add(role_group("Agents"))
    return user


async def test_a_watcher_gets_the_state_then_each_update_as_it_is_published(live_call, agent):
    socket = await watch(live_call, agent)
    connected, _ = await socket.connect()
    assert connected
    state = await socket.receive_json_from(timeout=5)
    assert state["type"] == "state"
    assert (state["status"], state["final"], state["streaming"]) == ("in-progress", False, True)
    assert state["transcript"] == [{"speaker": "bot", "text": "Hola.", "start_ms": 100, "end_ms": 900}]
    assert state["server_time"]

    feed = MonitorFeed(monitor_groups(call=live_call), call_sid=live_call.twilio_sid)
    sending = asyncio.create_task(feed.run())
    feed.publish(events.TranscriptTurn("callee", "Busco piso.", 1500, 2600, "item_1"))
    feed.publish(events.CallMetrics(1, (), None, None, 0))  # not shown: nothing sent
    feed.publish(events.BargeIn(at_ms=3000, item_id="item_2", audio_end_ms=700))
    feed.publish(events.StreamEnded(reason="bot_hangup", duration_ms=5000, recording=Path("/tmp/x.wav")))
    feed.close()
    await asyncio.wait_for(sending, 5)

    assert await socket.receive_json_from(timeout=5) == {
        "type": "turn", "speaker": "callee", "text": "Busco piso.", "start_ms": 1500, "end_ms": 2600}
    barge_in = await socket.receive_json_from(timeout=5)
    assert (barge_in["type"], barge_in["kind"], barge_in["label"]) == ("event", "barge_in", "The callee interrupted")
    assert barge_in["detail"] == {"at_ms": 3000, "item_id": "item_2", "audio_end_ms": 700}
    assert await socket.receive_json_from(timeout=5) == {
        "type": "stream_ended", "end_reason": "bot_hangup", "duration_ms": 5000}
    assert feed.dropped == 0
    await socket.disconnect()


async def test_a_status_callback_reaches_the_watcher(live_call, agent):
    socket = await watch(live_call, agent)
    await socket.connect()
    await socket.receive_json_from(timeout=5)

    await sync_to_async(call_update_status)(call_sid=live_call.twilio_sid, status="completed", sequence_number=4,
                                            duration=12)
    update = await socket.receive_json_from(timeout=5)
    assert (update["type"], update["status"], update["status_label"], update["final"]) == (
        "status", "completed", "Completed", True)
    assert update["ended_at"]
    await socket.disconnect()


async def test_a_lost_update_shows_on_the_next_re_read(live_call, agent, monkeypatch):
    """A call carried by another web process on the in-memory layer publishes nowhere this watcher hears: the
    watcher's re-read of the database brings its new lines anyway."""
    monkeypatch.setattr("calls.live.monitor_consumer.RECHECK_SECONDS", 0.2)
    socket = await watch(live_call, agent)
    await socket.connect()
    await socket.receive_json_from(timeout=5)
    turn = {"speaker": "callee", "text": "Sí, dígame.", "start_ms": 1200, "end_ms": 2000}
    await sync_to_async(type(live_call).objects.filter(pk=live_call.pk).update)(
        live_transcript=[*live_call.live_transcript, turn])
    state = await socket.receive_json_from(timeout=5)
    assert state["type"] == "state" and state["transcript"][-1] == turn
    await socket.disconnect()


async def test_the_re_reads_stop_once_the_call_is_over(live_call, agent, monkeypatch):
    monkeypatch.setattr("calls.live.monitor_consumer.RECHECK_SECONDS", 0.05)
    await sync_to_async(type(live_call).objects.filter(pk=live_call.pk).update)(status=CallStatus.COMPLETED,
                                                                               stream_sid="")
    socket = await watch(live_call, agent)
    await socket.connect()
    state = await socket.receive_json_from(timeout=5)
    assert state["final"] and not state["streaming"]
    await asyncio.sleep(0.3)
    assert await socket.receive_nothing(timeout=0.2)
    await socket.disconnect()


def _user(django_user_model, who: str):
    """Someone who may not watch: staff with no role, an Agent who is not staff, an Agent whose account is off."""
    if who == "anonymous":
        return None
    user = django_user_model.objects.create_user(who, f"{who}@example.com", "pw", is_staff=who != "not_staff",
                                                 is_active=who != "inactive")
    if who != "no_role":
        user.groups.add(role_group("Agents"))
    return user


@pytest.mark.parametrize("who", ["anonymous", "no_role", "not_staff", "inactive"])
async def test_only_active_staff_who_may_view_calls_can_watch(live_call, who, django_user_model):
    user = await sync_to_async(_user)(django_user_model, who)
    socket = await watch(live_call, user)
    connected, code = await socket.connect()
    assert (connected, code) == (False, 4403)


async def test_a_page_of_another_site_cannot_open_it_with_the_staff_cookie(live_call, agent):
    socket = await watch(live_call, agent, origin=(b"origin", b"https://evil.example"))
    connected, _ = await socket.connect()
    assert not connected


async def test_an_unknown_call_is_refused(agent):
    socket = WebsocketCommunicator(application, "/ws/calls/999999/live",
                                   headers=[ORIGIN, (b"cookie", await sync_to_async(session_cookie)(agent))])
    connected, code = await socket.connect()
    assert (connected, code) == (False, 4404)


async def test_what_the_browser_sends_is_ignored(live_call, agent):
    socket = await watch(live_call, agent)
    await socket.connect()
    await socket.receive_json_from(timeout=5)
    await socket.send_to(text_data="{not json")
    await socket.send_to(bytes_data=b"\x00\xff")
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


# The feed never holds up the call


class StuckLayer:
    """A channel layer whose sends and receives never complete (Redis unreachable, say)."""

    def __init__(self) -> None:
        self.sends = 0

    async def group_send(self, group: str, message: dict) -> None:
        self.sends += 1
        await asyncio.Event().wait()

    async def new_channel(self) -> str:
        return "stuck!1"

    async def group_add(self, group: str, channel: str) -> None:
        await asyncio.Event().wait()

    async def group_discard(self, group: str, channel: str) -> None:
        await asyncio.Event().wait()


async def test_a_stuck_layer_drops_updates_and_never_blocks_the_call(monkeypatch, live_call):
    monkeypatch.setattr(monitor, "MONITOR_QUEUE_MAX", 3)
    monkeypatch.setattr(monitor, "MONITOR_SEND_TIMEOUT_S", 0.05)
    stuck = StuckLayer()
    monkeypatch.setattr(monitor, "get_channel_layer", lambda: stuck)
    feed = MonitorFeed(monitor_groups(call=live_call), call_sid="CAx")
    sending = asyncio.create_task(feed.run())
    for index in range(10):  # each returns at once: publish never awaits
        feed.publish(events.Dtmf(digit=str(index), at_ms=index))
    feed.close()
    await asyncio.wait_for(sending, 5)  # every send timed out; the feed still ends
    assert stuck.sends + feed.dropped >= 10
    assert feed.dropped >= 10 - 3


def test_the_page_is_told_of_each_moment_the_timeline_keeps():
    for event in (events.Dtmf("4", 10), events.BargeIn(1, "i", 2), events.AiError(1, "c", "m"),
                  events.AiUnavailable(1, "gone"), events.HangUp("bot_hangup", 5, "informacion_completa"),
                  events.ToolCalled("do_not_call", {"quote": "no"}, {"ok": True}, 12, 40)):
        message = monitor_message(event)
        assert message["type"] == "event"
        assert message["label"] == CallEvent.Kind(message["kind"]).label
    assert monitor_message(events.TokenUsage(1, {})) is None



# A live call's consumer publishes what the relay reports


async def test_a_live_calls_events_reach_its_group_as_they_happen(settings, live, callee_audio):
    layer = get_channel_layer()
    scenario = RealtimeScenario(
        callee_turns=[CalleeTurn(after_ms=400, speech_ms=800, transcript="Busco piso en Madrid.")],
        replies=[Reply("Hola, soy Lucía.", audio_ms=600), Reply("¿Cuál es su presupuesto?", audio_ms=400)])
    async with answered_call(settings, live, scenario) as (server, call, twilio):
        watcher = await layer.new_channel()
        await layer.group_add(monitor_groups(call=call).watch, watcher)
        await server.wait_for("response.create")
        await twilio.stream(callee_audio[: FRAME * 75])
        await twilio.dtmf("7")
        await async_wait_for(lambda: len(twilio.of_event("mark")) >= 5, what="both replies at Twilio")
        await twilio.stop()
        received = []
        while not received or received[-1]["type"] != "stream_ended":
            received.append((await asyncio.wait_for(layer.receive(watcher), 5))["message"])

    turns = [(m["speaker"], m["text"]) for m in received if m["type"] == "turn"]
    assert ("callee", "Busco piso en Madrid.") in turns and ("bot", "¿Cuál es su presupuesto?") in turns
    keys = [m for m in received if m["type"] == "event" and m["kind"] == "dtmf"]
    assert [(m["label"], m["detail"]["digit"]) for m in keys] == [("Key pressed", "7")]
    assert received[-1]["end_reason"] == "callee_hangup"


# Listening in


class FakeRecorder:
    listener = None


async def test_the_feed_sends_audio_only_while_someone_listens(live_call, monkeypatch):
    monkeypatch.setattr(monitor, "LISTEN_EXPIRES_S", 0.3)
    layer = get_channel_layer()
    groups = monitor_groups(call=live_call)
    listener = await layer.new_channel()
    await layer.group_add(groups.listen, listener)
    feed = MonitorFeed(groups, call_sid=live_call.twilio_sid)
    recorder = FakeRecorder()
    feed.attach(recorder)
    sending = asyncio.create_task(feed.run())
    await asyncio.sleep(0.05)  # the feed subscribes to its control group
    assert recorder.listener is None  # nobody listens: the recorder is not even tapped

    await layer.group_send(groups.control, {"type": "listen.keepalive"})
    await async_wait_for(lambda: recorder.listener is not None, what="the tap")
    for index in range(7):  # 140 ms of the callee, then 200 ms of the bot played at 500 ms
        recorder.listener(0, index * 20, bytes([index]) * 160)
    recorder.listener(1, 500, b"\x01" * 1600)
    pieces = [await asyncio.wait_for(layer.receive(listener), 5) for _ in range(2)]
    assert [(p["type"], p["side"], p["at_ms"], len(p["audio"])) for p in pieces] == [
        ("call.audio", 0, 0, 800), ("call.audio", 1, 500, 1600)]  # 100 ms pieces of the callee, bot chunks whole
    assert pieces[0]["audio"] == b"".join(bytes([index]) * 160 for index in range(5))

    await asyncio.sleep(0.4)  # no keep-alive since: the next audio ends the tap, and what was gathered is sent
    recorder.listener(0, 140, b"\x09" * 160)
    assert recorder.listener is None
    rest = await asyncio.wait_for(layer.receive(listener), 5)
    assert (rest["side"], rest["at_ms"], len(rest["audio"])) == (0, 100, 320)
    feed.close()
    await asyncio.wait_for(sending, 5)


async def test_listening_needs_its_permission_and_goes_on_the_timeline(live_call, agent, django_user_model):
    def viewer_only():
        from django.contrib.auth.models import Permission

        user = django_user_model.objects.create_user("vic", "vic@example.com", "pw", is_staff=True)
        user.user_permissions.add(Permission.objects.get(codename="view_call"))
        return user

    socket = await watch_on("listen", live_call, await sync_to_async(viewer_only)())
    assert await socket.connect() == (False, 4403)

    socket = await watch_on("listen", live_call, agent)
    assert (await socket.connect())[0]
    layer = get_channel_layer()
    feed_channel = await layer.new_channel()
    await layer.group_add(monitor_groups(call=live_call).control, feed_channel)
    assert (await asyncio.wait_for(layer.receive(feed_channel), 5))["type"] == "listen.keepalive"
    await layer.group_send(monitor_groups(call=live_call).listen,
                           {"type": "call.audio", "side": 1, "at_ms": 1234, "audio": b"\x7f" * 800})
    message = await socket.receive_from(timeout=5)
    assert message == b"\x01" + (1234).to_bytes(4, "little") + b"\x7f" * 800
    await socket.disconnect()
    listened = await sync_to_async(list)(CallEvent.objects.filter(call=live_call, kind="listened"))
    assert [event.detail["user"] for event in listened] == ["ana"] and listened[0].detail["seconds"] >= 0


async def test_an_ended_call_cannot_be_listened_to(live_call, agent):
    await sync_to_async(type(live_call).objects.filter(pk=live_call.pk).update)(status=CallStatus.COMPLETED)
    socket = await watch_on("listen", live_call, agent)
    assert await socket.connect() == (False, 4404)


# Whispering to the bot


async def test_a_whisper_reaches_the_model_as_a_system_item_before_its_next_turn(settings, live, callee_audio):
    async with answered_call(settings, live) as (server, call, twilio):
        await server.wait_for("response.create")
        responses = len(server.of_type("response.create"))
        await asyncio.sleep(0.05)  # the feed subscribes to the call's control group
        await sync_to_async(call_whisper)(call=call, text="  Ofrécele  enviar los pisos por email. ", user="alice")
        items = await server.wait_for("conversation.item.create")
        await twilio.stop()

    system = [item["item"] for item in items if item["item"].get("role") == "system"]
    assert system == [{"type": "message", "role": "system",
                       "content": [{"type": "input_text", "text": "Ofrécele enviar los pisos por email."}]}]
    assert len(server.of_type("response.create")) == responses  # a hint for the next turn, not a turn of its own
    assert server.errors == []
    whispers = await sync_to_async(list)(CallEvent.objects.filter(call=call, kind="whisper"))
    assert [w.detail for w in whispers] == [{"user": "alice", "text": "Ofrécele enviar los pisos por email."}]


@pytest.mark.parametrize("text, status", [("", "in-progress"), ("x" * 501, "in-progress"), ("Hola", "completed")])
def test_a_whisper_that_cannot_be_given_is_refused_with_the_reason(live_call, text, status):
    type(live_call).objects.filter(pk=live_call.pk).update(status=status)
    live_call.refresh_from_db()
    with pytest.raises(CallError) as refused:
        call_whisper(call=live_call, text=text, user="alice")
    assert "characters" in refused.value.message or "over" in refused.value.message
    assert not CallEvent.objects.filter(call=live_call, kind="whisper").exists()


def test_only_supervisors_are_offered_the_whisper_box_and_may_post_it(live_call, agent, staff_user):
    url = f"/admin/calls/call/{live_call.pk}/"
    as_agent, as_supervisor = Client(), Client()
    as_agent.force_login(agent)
    as_supervisor.force_login(staff_user)
    assert "Whisper to the bot" not in as_agent.get(url + "change/").content.decode()
    assert as_agent.post(url + "whisper/", {"text": "Hola"}).status_code == 403
    assert "Whisper to the bot" in as_supervisor.get(url + "change/").content.decode()
    assert as_supervisor.post(url + "whisper/", {"text": "Pregunta por el presupuesto"}).status_code == 302
    assert CallEvent.objects.get(call=live_call, kind="whisper").detail["user"] == staff_user.username
