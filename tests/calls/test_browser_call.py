"""Talking to the bot from the browser: `/ws/try/<call code>` through the real router (the page's frames, played
here by the same Twilio stream double as the media consumer's tests, with the staff member's session cookie), the
fake OpenAI Realtime on a real socket, and the admin's "Try this script" doors."""
from __future__ import annotations

import asyncio
import base64
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from calls import opening_audio
from calls.models import Call, CallStatus
from calls.review.dashboard import dashboard_build
from calls.services import call_hang_up, call_reconcile_stale
from calls.services.test_calls import TEST_CONTACT_PHONE, call_test_start
from calls.signals import call_final
from contacts.models import Contact
from tests.calls import test_consumers
from tests.calls.test_consumers import FRAME, TwilioStream, events_of, fresh, realtime, wav_of
from tests.calls.test_live_monitor import ORIGIN, session_cookie
from tests.conftest import role_group
from simulator.openai_realtime import CalleeTurn, RealtimeScenario, Reply
from tests.factories import ContactFactory
from simulator.polling import async_wait_for

pytestmark = pytest.mark.django_db(transaction=True)

callee_audio = test_consumers.callee_audio  # the media consumer's tests' fixture


@pytest.fixture(autouse=True)
def _browser_settings(settings, monkeypatch):
    # The opening line's render is queued once per process: these calls must not spend that for later tests.
    monkeypatch.setattr(opening_audio, "_queued", {})
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    settings.CALL_DURATION_LIMIT = 0
    settings.SILENCE_TIMEOUT = 0
    settings.GOODBYE_MARK_CAP = 5


def make_agent(django_user_model, name: str):
    user = django_user_model.objects.create_user(name, f"{name}@example.com", f"pw-{name}", is_staff=True)
    user.groups.add(role_group("Agents"))
    return user


@pytest.fixture
def agent(django_user_model):
    return make_agent(django_user_model, "ana")


async def page_socket(call: Call, token: str | None, user=None, *, origin=ORIGIN) -> TwilioStream:
    """The browser's side of the test call `call`: Twilio's frames, with the page's session cookie and Origin."""
    # The page names the call by its code where Twilio gives its SID (the relay's log lines carry it).
    page = TwilioStream(str(call.code), token, url=f"http://localhost/ws/try/{call.code}")
    page.headers = [origin]
    if user is not None:
        page.headers.append((b"cookie", await sync_to_async(session_cookie)(user)))
    return page


async def start_test_call(user, **kwargs) -> tuple[Call, str]:
    return await sync_to_async(call_test_start)(user=user.get_username(), **kwargs)


@asynccontextmanager
async def talking(settings, user, scenario: RealtimeScenario | None = None):
    """A test call started by `user`, the fake OpenAI serving `scenario`, the page's socket open and started.
    Yields (fake OpenAI, call, the page's side); on the way out the page's socket goes away (once the server closed
    it, in each test here)."""
    call, token = await start_test_call(user)
    async with realtime(settings, scenario) as server:
        page = await page_socket(call, token, user)
        assert (await page.open(headers=page.headers))[0]
        await page.start()
        yield server, call, page
        await asyncio.wait_for(page.closed.wait(), 10)
        await page.hang_up()


# ---- who may talk ------------------------------------------------------------------------------------------------


async def test_anonymous_users_are_refused(agent):
    call, token = await start_test_call(agent)
    page = await page_socket(call, token)
    assert await page.open(headers=page.headers) == (False, 4403)


async def test_staff_without_the_place_call_permission_are_refused(agent, staff_without_role):
    call, token = await start_test_call(agent)
    page = await page_socket(call, token, staff_without_role)
    assert await page.open(headers=page.headers) == (False, 4403)


async def test_staff_who_may_only_view_calls_are_refused(agent, django_user_model):
    call, token = await start_test_call(agent)
    page = await page_socket(call, token, await sync_to_async(viewer)(django_user_model))
    assert await page.open(headers=page.headers) == (False, 4403)


async def test_another_staff_members_test_call_is_refused(agent, django_user_model):
    other = await sync_to_async(make_agent)(django_user_model, "otto")
    call, token = await start_test_call(agent)
    page = await page_socket(call, token, other)
    assert await page.open(headers=page.headers) == (False, 4403)
    assert (await fresh(call)).stream_token_used_at is None  # nothing spent


async def test_a_phone_calls_code_is_refused_on_the_browser_socket(agent):
    from tests.factories import CallFactory
    call = await sync_to_async(CallFactory)(status=CallStatus.IN_PROGRESS)
    page = await page_socket(call, "whatever", agent)
    assert await page.open(headers=page.headers) == (False, 4403)


async def test_a_page_of_another_site_is_refused(agent):
    call, token = await start_test_call(agent)
    page = await page_socket(call, token, agent, origin=(b"origin", b"http://evil.example"))
    accepted, _ = await page.open(headers=page.headers)
    assert not accepted


async def test_a_wrong_token_closes_the_socket_and_spends_nothing(settings, agent):
    call, _ = await start_test_call(agent)
    async with realtime(settings) as server:
        page = await page_socket(call, "not-the-token", agent)
        assert (await page.open(headers=page.headers))[0]
        await page.start()
        await asyncio.wait_for(page.closed.wait(), 5)
        await page.hang_up()
    assert page.close_code == 4403 and not server.handshakes
    call = await fresh(call)  # the page holding the real token may still connect (else reconciliation ends it)
    assert (call.status, call.stream_token_used_at) == (CallStatus.IN_PROGRESS, None)


# ---- a whole test call -------------------------------------------------------------------------------------------


async def test_a_whole_test_call_is_relayed_recorded_finished_and_processed(settings, agent, callee_audio):
    finals: list[Call] = []
    receiver = lambda sender, call, **kwargs: finals.append(call)  # noqa: E731
    call_final.connect(receiver, weak=False, dispatch_uid="test-browser-call")
    scenario = RealtimeScenario(
        callee_turns=[CalleeTurn(after_ms=200, speech_ms=400, transcript="Nada más, gracias.")],
        replies=[Reply("Hola, soy Lucía.", audio_ms=400), Reply(end_call="informacion_completa"),
                 Reply("Gracias, adiós.", audio_ms=600)])
    try:
        async with talking(settings, agent, scenario) as (server, call, page):
            # The callee speaks once the opening has reached the page (not over it: that would cut it short).
            await async_wait_for(lambda: len(page.bot_audio()) == 400 * 8, what="the opening")
            sent = callee_audio[: FRAME * 40]
            await page.stream(sent)
            await server.wait_for("response.create", 2)  # the opening, then the goodbye after end_call
            await asyncio.wait_for(page.closed.wait(), 10)  # closed by the server once the goodbye played
        appended = b"".join(base64.b64decode(e["audio"]) for e in server.of_type("input_audio_buffer.append"))
        # The page's audio reached OpenAI as it was sent (until the call ended: the callee spoke in its first 600 ms).
        assert len(appended) >= FRAME * 30 and sent.startswith(appended)
        assert len(page.bot_audio()) == (400 + 600) * 8  # the bot's reply and its goodbye reached the page
        assert page.marks_returned
    finally:
        call_final.disconnect(dispatch_uid="test-browser-call")

    call = await fresh(call)
    assert (call.is_test, call.status, call.end_reason) == (True, CallStatus.COMPLETED, "bot_hangup")
    assert call.twilio_sid is None and call.ended_at is not None and call.duration is not None
    assert (await events_of(call, "hang_up"))[0].detail["tool_reason"] == "informacion_completa"
    assert len(await events_of(call, "stream_ended")) == 1
    with wav_of(call) as wav:
        assert wav.getnframes() > 0
    assert [final.pk for final in finals] == [call.pk]  # call_final, once
    assert call.processing["status"] == "queued"  # processed like a phone call
    contact = await Contact.objects.aget(pk=call.contact_id)
    assert str(contact.phone_number) == TEST_CONTACT_PHONE and contact.do_not_call and contact.number_invalid


async def test_the_page_hanging_up_ends_the_test_call(settings, agent, callee_audio):
    async with talking(settings, agent) as (server, call, page):
        await page.stream(callee_audio[: FRAME * 20])
        await server.wait_for("response.create")
        await page.stop()
    call = await fresh(call)
    assert (call.status, call.end_reason) == (CallStatus.COMPLETED, "callee_hangup")


async def test_staff_hang_up_from_the_live_page_ends_the_test_call_without_twilio(settings, agent, callee_audio):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens: asking Twilio would fail
    async with talking(settings, agent) as (server, call, page):
        await page.stream(callee_audio[: FRAME * 10])
        await server.wait_for("response.create")
        await sync_to_async(call_hang_up)(call=await fresh(call))  # then the server closes the page's socket
    call = await fresh(call)
    assert (call.status, call.end_reason) == (CallStatus.COMPLETED, "staff_hangup")
    assert len(await events_of(call, "hangup_requested")) == 1


async def test_an_apology_is_a_text_frame_for_the_page_when_openai_refuses(settings, agent):
    async with talking(settings, agent, RealtimeScenario(refuse_connections=True)) as (_, call, page):
        pass  # the server apologises and closes
    apologies = page.of_event("apology")
    assert len(apologies) == 1 and apologies[0]["text"]
    call = await fresh(call)
    assert (call.status, call.end_reason) == (CallStatus.COMPLETED, "ai_unavailable")


# ---- kept out of the figures, and of Twilio --------------------------------------------------------------------


def test_test_calls_are_left_out_of_the_dashboard(agent):
    call, _ = call_test_start(user=agent.get_username())
    Call.objects.filter(pk=call.pk).update(status=CallStatus.COMPLETED, duration=30)
    board = dashboard_build(period="today", campaign_id=None)
    placed = board.headline[0]["figures"][0]
    assert placed.value == "0"
    assert board.in_flight.value == "0"


def test_reconciling_a_stale_test_call_finishes_it_without_twilio(agent, settings):
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"  # nothing listens: asking Twilio would fail
    call, _ = call_test_start(user=agent.get_username())
    Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - timedelta(hours=2))
    assert call_reconcile_stale(older_than_seconds=60) == 1
    call.refresh_from_db()
    assert (call.status, call.end_reason, call.error) == (CallStatus.COMPLETED, "stale", "")


# ---- the admin's doors ---------------------------------------------------------------------------------------------


def viewer(django_user_model):
    """Staff who may see calls but not place them."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("vera", "vera@example.com", "pw-vera", is_staff=True)
    user.user_permissions.add(Permission.objects.get(content_type__app_label="calls", codename="view_call"))
    return user


@pytest.mark.parametrize("who", ["staff_without_role", "viewer"])
def test_the_try_page_and_its_start_need_the_place_call_permission(request, django_user_model, who):
    user = viewer(django_user_model) if who == "viewer" else request.getfixturevalue(who)
    client = Client()
    client.force_login(user)
    assert client.get(reverse("admin:calls_call_try")).status_code == 403
    assert client.post(reverse("admin:calls_call_try_start")).status_code == 403
    assert not Call.objects.exists()
    if who == "viewer":  # who sees the calls list is not offered the button
        assert reverse("admin:calls_call_try") not in client.get(reverse("admin:calls_call_changelist")).content.decode()


def test_the_calls_list_links_to_the_try_page_and_shows_test_calls_with_a_badge(agent):
    client = Client()
    client.force_login(agent)
    call, _ = call_test_start(user=agent.get_username())
    page = client.get(reverse("admin:calls_call_changelist")).content.decode()
    assert reverse("admin:calls_call_try") in page and 'class="call-test"' in page
    tried = client.get(reverse("admin:calls_call_changelist") + "?is_test__exact=1").context["cl"].result_list
    assert [c.pk for c in tried] == [call.pk]
    form = client.get(reverse("admin:calls_call_try"))
    assert form.status_code == 200 and b'value="ventas"' in form.content


def test_start_creates_a_live_test_call_with_the_chosen_profile_and_contact(agent):
    client = Client()
    client.force_login(agent)
    contact = ContactFactory(name="Marta")
    answer = client.post(reverse("admin:calls_call_try_start"), {"profile": "ventas", "contact": str(contact.pk)})
    assert answer.status_code == 200
    body = answer.json()
    call = Call.objects.get(pk=body["call_id"])
    assert (call.is_test, call.status, call.contact_id, call.agent_profile) == (
        True, CallStatus.IN_PROGRESS, contact.pk, "ventas")
    assert call.answered_at is not None and call.stream_token_hash and body["token"]
    assert body["socket"] == f"/ws/try/{call.code}"


@pytest.mark.parametrize("data, error", [
    ({"profile": "nope"}, "No agent profile"),
    ({"contact": "abc"}, "must be a contact's id"),
    ({"contact": "999999"}, "No contact with id 999999"),
])
def test_start_refuses_bad_input_clearly_and_creates_nothing(agent, data, error):
    client = Client()
    client.force_login(agent)
    answer = client.post(reverse("admin:calls_call_try_start"), data)
    assert answer.status_code == 400 and error in answer.json()["error"]
    assert not Call.objects.exists()


def test_the_built_in_contact_cannot_be_dialled(agent):
    from calls.exceptions import CallRefused
    from calls.services import place_call

    call_test_start(user=agent.get_username())
    with pytest.raises(CallRefused):
        place_call(phone_number=TEST_CONTACT_PHONE)
