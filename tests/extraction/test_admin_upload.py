"""Uploading a recording made elsewhere through the calls admin: a new call for a number, or a call's new file."""
from __future__ import annotations

import io
import wave
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from calls.models import Call, CallEvent
from contacts.models import Contact
from tests.extraction.sounds import call_wav
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

UPLOAD_URL = "/admin/calls/call/upload/"


def wav_file(data: bytes | None = None, name: str = "old-system.wav") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, call_wav() if data is None else data, content_type="audio/wav")


def eight_bit_wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(bytes([128]) * 8000)
    return buffer.getvalue()


def upload(client, capture, **data):
    with capture(execute=True):
        return client.post(UPLOAD_URL, {"phone_number": "600 123 456", "file": wav_file(), **data}, follow=True)


def media_files(settings) -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


def test_the_calls_list_links_to_the_upload_page(admin_client_logged):
    html = admin_client_logged.get("/admin/calls/call/").content.decode()
    assert f'<a href="{UPLOAD_URL}" class="upload-recording-link">Upload a recording</a>' in html
    page = admin_client_logged.get(UPLOAD_URL)
    assert page.status_code == 200
    assert {"phone_number", "called_at", "file"} <= set(page.context["form"].fields)


def test_it_creates_a_contact_and_a_completed_call_and_processes_the_recording(
    admin_client_logged, openai_fake, q_sync, django_capture_on_commit_callbacks
):
    response = upload(admin_client_logged, django_capture_on_commit_callbacks, called_at="2026-11-20T10:30")

    call = Call.objects.get()
    assert response.redirect_chain == [(f"/admin/calls/call/{call.pk}/change/", 302)]
    assert any("Recording uploaded for" in str(m) for m in response.context["messages"])
    assert call.contact == Contact.objects.get(phone_number="+34600123456")
    assert call.phone_number == "+34600123456" and call.status == "completed" and call.end_reason == ""
    assert call.created_at == call.answered_at and call.duration == 9.0
    assert (call.ended_at - call.created_at).total_seconds() == 9.0
    assert CallEvent.objects.get(call=call, kind="recording_uploaded").detail == {"channels": 2, "seconds": 9.0}
    assert call.processing["status"] == "done" and len(call.transcript) == 4
    assert call.extracted_data["place"] == "Madrid"


def test_it_dates_the_call_when_it_happened_and_reuses_a_known_contact(
    admin_client_logged, settings, django_capture_on_commit_callbacks
):
    known = ContactFactory(phone_number="+34600123456", name="Ana")

    upload(admin_client_logged, django_capture_on_commit_callbacks, phone_number="0034 600-123-456",
           called_at="2026-11-20T10:30")

    call = Call.objects.get()
    assert call.contact == known and Contact.objects.count() == 1
    local = datetime(2026, 11, 20, 10, 30, tzinfo=ZoneInfo(settings.TIME_ZONE))
    assert call.created_at == local
    assert call.processing["status"] == "queued"  # no q_sync here: it waits for a worker


@pytest.mark.parametrize(("content", "message"), [
    (b"ID3 this is an mp3", "Upload a 16-bit PCM WAV file: not a readable WAV file"),
    (eight_bit_wav(), "Upload a 16-bit PCM WAV file: expected 16-bit PCM WAV, got 8-bit samples."),
    (b"", "Upload a 16-bit PCM WAV file: not a readable WAV file"),
])
def test_it_rejects_a_file_that_is_not_a_16_bit_wav_and_creates_nothing(
    admin_client_logged, settings, django_capture_on_commit_callbacks, content, message
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client_logged.post(UPLOAD_URL, {"phone_number": "600 123 456", "file": wav_file(content)})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert Call.objects.count() == 0 and Contact.objects.count() == 0
    assert media_files(settings) == [] and callbacks == []


def test_it_rejects_a_bad_number_and_creates_nothing(admin_client_logged, settings):
    response = admin_client_logged.post(UPLOAD_URL, {"phone_number": "12", "file": wav_file()})

    assert response.status_code == 400
    assert "&#x27;12&#x27; is not a valid phone number: too short." in response.content.decode()
    assert Call.objects.count() == 0 and Contact.objects.count() == 0 and media_files(settings) == []


def test_it_rejects_a_date_in_the_future(admin_client_logged):
    response = admin_client_logged.post(UPLOAD_URL, {"phone_number": "600 123 456", "called_at": "2999-01-01T10:00",
                                                     "file": wav_file()})

    assert response.status_code == 400 and "The call cannot be in the future." in response.content.decode()
    assert Call.objects.count() == 0


def test_it_needs_the_upload_permission_on_calls(staff_without_role):
    staff_without_role.user_permissions.add(Permission.objects.get(codename="view_call"))
    client = Client()
    client.force_login(staff_without_role)

    assert client.get(UPLOAD_URL).status_code == 403
    assert client.post(UPLOAD_URL, {"phone_number": "600 123 456", "file": wav_file()}).status_code == 403
    assert "Upload a recording" not in client.get("/admin/calls/call/").content.decode()
    assert Call.objects.count() == 0


def test_the_call_page_replaces_the_recording_and_processes_it_again(
    admin_client_logged, make_call, openai_fake, q_sync, django_capture_on_commit_callbacks
):
    call = make_call(wav=False)
    url = f"/admin/calls/call/{call.pk}/recording/"
    assert f'<a href="{url}">Upload recording</a>' in admin_client_logged.get(
        f"/admin/calls/call/{call.pk}/change/").content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_logged.post(url, {"file": wav_file()}, follow=True)

    assert response.redirect_chain == [(f"/admin/calls/call/{call.pk}/change/", 302)]
    call.refresh_from_db()
    assert call.recording.name.endswith("-uploaded.wav")
    assert call.processing["status"] == "done" and len(call.transcript) == 4


def test_the_call_page_upload_shows_why_a_file_was_refused(admin_client_logged, make_call):
    call = make_call()
    before = call.recording.name

    response = admin_client_logged.post(f"/admin/calls/call/{call.pk}/recording/", {"file": wav_file(b"nope")})

    assert response.status_code == 400 and "Upload a 16-bit PCM WAV file" in response.content.decode()
    call.refresh_from_db()
    assert call.recording.name == before and call.processing == {}
