"""Roles: every door (API, /make_call, /recordings/, the admin's actions and pages) obeys the model permissions and
the custom ones for what costs money or exposes a voice; the Agents and Supervisors groups; the admin history of
what staff did; django-q2's pages for superusers only.

Three staff users walk through each door: a viewer (view permissions only), an Agent and a Supervisor.
"""
import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.models import Group, Permission
from django.core.files.base import ContentFile
from django.test import Client
from django_q.brokers import get_broker
from rest_framework.test import APIClient

from calls.models import Call, CallStatus
from calls.services import place_call
from campaigns.models import Campaign
from contacts.models import Contact
from tests.conftest import role_group
from tests.contacts.sheets import csv_bytes, upload
from tests.factories import CallFactory, ContactFactory

pytestmark = pytest.mark.django_db

AGENT_CAN = {"contacts.view_contact", "calls.view_call", "calls.view_callevent", "calls.place_call",
             "calls.hangup_call", "calls.listen_recording", "campaigns.view_campaign", "campaigns.view_campaigncontact"}
AUDIO = b"RIFF" + bytes(range(256)) * 8
CONTACTS_URL, CALLS_URL = "/admin/contacts/contact/", "/admin/calls/call/"


@pytest.fixture(autouse=True)
def _fast_pace(settings, tmp_path):
    settings.CALLS_PER_SECOND = 1000
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)


def _staff(django_user_model, name: str):
    return django_user_model.objects.create_user(name, f"{name}@example.com", f"pw-{name}", is_staff=True)


@pytest.fixture
def viewer(django_user_model):
    user = _staff(django_user_model, "viewer")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_contact", "view_call", "view_callevent"]))
    return user


@pytest.fixture
def agent(django_user_model):
    user = _staff(django_user_model, "agent")
    user.groups.add(role_group("Agents"))
    return user


@pytest.fixture
def users(viewer, agent, staff_user):
    return {"viewer": viewer, "agent": agent, "supervisor": staff_user}


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def admin_as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def recorded_call():
    call = CallFactory(twilio_sid="CA" + "b" * 32, status=CallStatus.COMPLETED)
    call.recording.save(f"{call.twilio_sid}.wav", ContentFile(AUDIO))
    return call


def recording_file_exists(call: Call) -> bool:
    return call.recording.storage.exists(call.recording.name)


def history(obj, flag: int | None = None) -> list[str]:
    entries = LogEntry.objects.filter(object_id=str(obj.pk), content_type__model=obj._meta.model_name).order_by("id")
    return [entry.get_change_message() for entry in entries if flag is None or entry.action_flag == flag]


# The two groups

def test_the_migration_ships_the_two_roles():
    agents = {f"{p.content_type.app_label}.{p.codename}" for p in Group.objects.get(name="Agents").permissions.all()}
    supervisors = {f"{p.content_type.app_label}.{p.codename}"
                   for p in Group.objects.get(name="Supervisors").permissions.all()}
    assert agents == AGENT_CAN
    assert agents < supervisors
    assert {"contacts.import_contacts", "contacts.export_contacts", "contacts.delete_contact", "calls.delete_call",
            "calls.download_recording", "calls.rerun_processing", "calls.upload_recording",
            "calls.export_calls", "campaigns.add_campaign", "campaigns.change_campaign",
            "campaigns.delete_campaign"} <= supervisors


# The API, door by door

def test_reading_needs_the_view_permission(staff_without_role, viewer):
    CallFactory()
    for url in ("/api/users", "/api/call_histories"):
        assert api_as(staff_without_role).get(url).status_code == 403, url
        assert api_as(viewer).get(url).status_code == 200, url


@pytest.mark.parametrize("role, allowed", [("viewer", False), ("agent", False), ("supervisor", True)])
def test_deleting_a_contact_and_its_recordings_needs_the_delete_permissions(
    users, recorded_call, django_capture_on_commit_callbacks, role, allowed,
):
    with django_capture_on_commit_callbacks(execute=True):  # the files go once the delete is committed
        response = api_as(users[role]).delete(f"/api/users/{recorded_call.contact.phone_number}")

    assert response.status_code == (200 if allowed else 403)
    assert Contact.objects.filter(pk=recorded_call.contact.pk).exists() is not allowed
    assert recording_file_exists(recorded_call) is not allowed


@pytest.mark.parametrize("role, allowed", [("viewer", False), ("agent", False), ("supervisor", True)])
def test_importing_and_exporting_contacts_through_the_api(users, role, allowed):
    client = api_as(users[role])
    imported = client.post("/api/users/import", {"file": upload("new.csv", csv_bytes([["600123456"]]))},
                           format="multipart")
    exported = client.get("/api/users/export?format=csv")
    calls_exported = client.post("/api/call_histories/export", {}, format="json")

    assert (imported.status_code, exported.status_code, calls_exported.status_code) == (
        (200, 200, 200) if allowed else (403, 403, 403))
    assert Contact.objects.filter(phone_number="+34600123456").exists() is allowed


@pytest.mark.parametrize("role, allowed", [("viewer", False), ("agent", True), ("supervisor", True)])
def test_placing_and_hanging_up_through_the_api(users, fake_twilio, role, allowed):
    client = api_as(users[role])
    placed = client.post("/api/calls/", {"phone_number": "600 123 456"}, format="json")
    live = place_call(contact=ContactFactory())
    hung_up = client.post(f"/api/calls/{live.twilio_sid}/hangup/")

    assert (placed.status_code, hung_up.status_code) == ((202, 202) if allowed else (403, 403))
    assert [call.to for call in fake_twilio.calls.values()] == ["+34600123456", live.phone_number][not allowed:]
    assert fake_twilio.calls[live.twilio_sid].hung_up is allowed


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role, status", [("viewer", 403), ("agent", 400), ("supervisor", 400)])
async def test_make_call_needs_the_place_call_permission(users, fake_twilio, role, status):
    from asgiref.sync import sync_to_async
    from django.test import AsyncClient

    client = AsyncClient()
    await client.aforce_login(users[role])
    # An invalid number is refused (400) only once the gate has let the caller through; nobody is dialled.
    response = await client.post("/make_call", {"phone_number": "12"}, content_type="application/json")

    assert response.status_code == status
    assert fake_twilio.requests == [] and await sync_to_async(Call.objects.count)() == 0


@pytest.mark.parametrize("role, player, download", [
    ("viewer", 403, 403), ("agent", 200, 403), ("supervisor", 200, 200),
])
def test_the_player_needs_listen_and_anything_else_download(users, recorded_call, role, player, download):
    client = admin_as(users[role])
    url = "/" + recorded_call.recording.name

    # The call page's <audio> element fetches with Sec-Fetch-Dest: audio; the Download link and scripts do not.
    assert client.get(url, HTTP_SEC_FETCH_DEST="audio").status_code == player
    assert client.get(url).status_code == download
    assert client.get(url, HTTP_SEC_FETCH_DEST="document").status_code == download


# The admin: actions are offered only with their permission, custom pages answer 403

def actions_offered(client, url: str) -> set[str]:
    return set(re.findall(r'<option value="(\w+)"', client.get(url).content.decode())) - {""}


def test_each_role_is_offered_only_the_actions_it_may_run(users):
    ContactFactory()
    CallFactory()
    offered = {role: (actions_offered(admin_as(user), CONTACTS_URL), actions_offered(admin_as(user), CALLS_URL))
               for role, user in users.items()}

    assert offered["viewer"] == (set(), set())
    assert offered["agent"] == (set(), {"hang_up"})
    assert offered["supervisor"] == (
        {"call_contacts", "mark_do_not_call", "allow_calls", "delete_selected"},
        {"hang_up", "reprocess", "export_xlsx", "export_csv", "delete_selected"},
    )


@pytest.mark.parametrize("role, allowed", [("viewer", False), ("agent", False), ("supervisor", True)])
def test_call_selected_contacts_makes_a_campaign_for_supervisors_only(users, role, allowed):
    contact = ContactFactory()
    admin_as(users[role]).post(CONTACTS_URL, {"action": "call_contacts", "index": 0, ACTION_CHECKBOX_NAME: [contact.pk]})

    assert Campaign.objects.filter(entries__contact=contact).exists() is allowed
    assert get_broker().queue_size() == 0  # nothing is dialled until the campaign is started


@pytest.mark.parametrize("role, allowed", [("viewer", False), ("agent", True), ("supervisor", True)])
def test_hang_up_action_needs_its_permission_and_is_in_the_calls_history(users, fake_twilio, role, allowed):
    live = place_call(contact=ContactFactory())
    client = admin_as(users[role])
    client.post(CALLS_URL, {"action": "hang_up", "index": 0, ACTION_CHECKBOX_NAME: [live.pk]})

    assert fake_twilio.calls[live.twilio_sid].hung_up is allowed
    assert history(live, CHANGE) == (["Hung up."] if allowed else [])
    if allowed:
        assert "Hung up." in client.get(f"{CALLS_URL}{live.pk}/history/").content.decode()


@pytest.mark.parametrize("role", ["viewer", "agent"])
def test_supervisor_pages_answer_403_to_others(users, recorded_call, role):
    client = admin_as(users[role])
    pk = recorded_call.pk
    for url in (f"{CONTACTS_URL}import/", f"{CONTACTS_URL}export/", f"{CALLS_URL}upload/",
                f"{CALLS_URL}{pk}/recording/", f"{CONTACTS_URL}{recorded_call.contact.pk}/delete/"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"{CALLS_URL}{pk}/process/").status_code == 403
    assert client.post(f"{CONTACTS_URL}import/", {"file": upload("new.csv", csv_bytes([["600123456"]]))}
                       ).status_code == 403
    client.post(CALLS_URL, {"action": "reprocess", "index": 0, ACTION_CHECKBOX_NAME: [pk]})
    client.post(CONTACTS_URL, {"action": "delete_selected", "index": 0, "post": "yes",
                               ACTION_CHECKBOX_NAME: [recorded_call.contact.pk]})
    assert Contact.objects.count() == 1 and recording_file_exists(recorded_call)  # not even after a commit
    assert get_broker().queue_size() == 0 and LogEntry.objects.count() == 0


def test_the_call_page_shows_the_player_and_the_download_link_by_permission(users, recorded_call):
    def page(role: str) -> str:
        return admin_as(users[role]).get(f"{CALLS_URL}{recorded_call.pk}/change/").content.decode()

    shown = {role: ("<audio" in page(role), "Download the recording" in page(role),
                    "Re-run transcription" in page(role), "Upload recording" in page(role)) for role in users}
    assert shown == {"viewer": (False, False, False, False), "agent": (True, False, False, False),
                     "supervisor": (True, True, True, True)}


# What a Supervisor does leaves admin history

def test_a_supervisors_admin_work_is_in_the_admin_history(staff_user, recorded_call, django_capture_on_commit_callbacks):
    client = admin_as(staff_user)

    client.post(CALLS_URL, {"action": "reprocess", "index": 0, ACTION_CHECKBOX_NAME: [recorded_call.pk]})
    client.post(f"{CALLS_URL}{recorded_call.pk}/process/")
    preview = client.post(f"{CONTACTS_URL}import/", {"file": upload("new.csv", csv_bytes([["600123456"], ["x"]]))})
    token = re.search(r'name="token" value="([0-9a-f]+)"', preview.content.decode()).group(1)
    client.post(f"{CONTACTS_URL}import/", {"token": token, "filename": "new.csv"})
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{CONTACTS_URL}{recorded_call.contact.pk}/delete/", {"post": "yes"})

    assert history(recorded_call, CHANGE) == ["Re-ran transcription and extraction."]  # the second was skipped
    [imported] = LogEntry.objects.filter(action_flag=ADDITION, content_type__model="contact")
    assert (imported.object_repr, imported.get_change_message()) == (
        "Import of new.csv", "Imported 1 new contact(s) from new.csv; 1 row(s) not imported.")
    assert history(recorded_call.contact, DELETION) == [""]  # Django's own deletion entry
    assert not recording_file_exists(recorded_call)
    recent = client.get("/admin/").content.decode()
    assert "Import of new.csv" in recent and str(recorded_call.contact) in recent


def test_uploads_are_in_the_calls_history(staff_user, recorded_call):
    from tests.extraction.test_admin_upload import wav_file

    client = admin_as(staff_user)
    client.post(f"{CALLS_URL}upload/", {"phone_number": "600 123 456", "file": wav_file()})
    client.post(f"{CALLS_URL}{recorded_call.pk}/recording/", {"file": wav_file()})

    uploaded = Call.objects.get(phone_number="+34600123456")
    assert history(uploaded, ADDITION) == ["Uploaded a recording made elsewhere; transcription and extraction queued."]
    assert history(recorded_call, CHANGE) == ["Replaced the recording; transcription and extraction queued."]


def test_the_apis_calls_imports_and_deletions_are_in_the_admin_history(staff_user, fake_twilio):
    client = api_as(staff_user)
    call_sid = client.post("/api/calls/", {"phone_number": "600 123 456"}, format="json").json()["call_sid"]
    client.post(f"/api/calls/{call_sid}/hangup/")
    client.post("/api/users/import", {"file": upload("more.csv", csv_bytes([["600123457"]]))}, format="multipart")
    call = Call.objects.select_related("contact").get(twilio_sid=call_sid)
    client.delete("/api/users/600123456")

    assert history(call) == ["Placed through the API.", "Hung up through the API."]
    assert LogEntry.objects.get(object_repr="Import of more.csv").get_change_message() == (
        "Imported 1 new contact(s) from more.csv through the API; 0 row(s) not imported.")
    assert history(call.contact, DELETION) == ["Deleted through the API, with its calls and their recordings."]


@pytest.mark.django_db(transaction=True)
async def test_make_call_is_in_the_calls_history(staff_user, fake_twilio, settings):
    from asgiref.sync import sync_to_async
    from django.test import AsyncClient

    settings.MAKE_CALL_TIMEOUT = 1
    client = AsyncClient()
    await client.aforce_login(staff_user)
    response = await client.post("/make_call", {"phone_number": "600 123 456"}, content_type="application/json")

    assert response.status_code == 408  # nobody answers the fake: the wait times out, and is still recorded
    call = await Call.objects.aget(twilio_sid=fake_twilio.last_call.sid)
    assert await sync_to_async(history)(call, ADDITION) == ["Placed through POST /make_call."]


# django-q2's pages run code in the worker: superusers only

@pytest.mark.parametrize("page", ["schedule", "success", "failure", "ormq"])
def test_django_q_pages_are_for_superusers_only(staff_user, admin_user, page):
    # Even a staff user handed every django_q permission, by mistake or by a too-broad group.
    staff_user.user_permissions.add(*Permission.objects.filter(content_type__app_label="django_q"))
    url = f"/admin/django_q/{page}/"
    assert admin_as(staff_user).get(url).status_code == 403
    assert admin_as(staff_user).get(url + "add/").status_code == 403
    assert "django_q" not in admin_as(staff_user).get("/admin/").content.decode()
    assert admin_as(admin_user).get(url).status_code == 200
