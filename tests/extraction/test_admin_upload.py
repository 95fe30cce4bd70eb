"""Uploading a recording made elsewhere through the calls admin: a new call for a number, or a call's new file."""
from __future__ import annotations

import io
import tempfile
import wave
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from calls.models import Call, CallEvent
from contacts.models import Contact
from tests.extraction.sounds import call_wav, ffmpeg_encode, needs_ffmpeg
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

UPLOAD_URL = "/admin/calls/call/upload/"


def wav_file(data: bytes | None = None, name: str = "old-system.wav") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, call_wav() if data is None else data, content_type="audio/wav")


def eight_bit_wav() -> bytes:
    """The standard call's client side as an 8-bit (unsigned) mono WAV at 8 kHz."""
    left = np.frombuffer(call_wav(), dtype="<i2")[0::2]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(((left >> 8) + 128).astype(np.uint8).tobytes())
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
    pytest.param(b"ID3 this is an mp3", "This file could not be read as audio", marks=needs_ffmpeg),
    (b"", "The file is empty. Upload an mp3, m4a, ogg, webm or WAV recording."),
])
def test_it_rejects_a_file_that_is_not_audio_and_creates_nothing(
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

    assert response.status_code == 400 and "could not be read as audio" in response.content.decode()
    call.refresh_from_db()
    assert call.recording.name == before and call.processing == {}


# Formats staff actually have: converted to our layout (8 kHz, 16-bit PCM, channels kept) before anything is saved.

def stored_layout(call: Call) -> tuple[int, int, int, float]:
    with call.recording.open("rb") as file, wave.open(file, "rb") as wav:
        return wav.getnchannels(), wav.getframerate(), wav.getsampwidth(), round(wav.getnframes() / 8000, 1)


def upload_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("voicebot-upload-*"))


@needs_ffmpeg
@pytest.mark.parametrize(("suffix", "options"), [
    (".mp3", ["-c:a", "libmp3lame", "-b:a", "64k"]),
    (".m4a", ["-c:a", "aac", "-b:a", "64k"]),
])
def test_an_mp3_or_m4a_recording_becomes_a_processed_call(
    admin_client_logged, openai_fake, q_sync, django_capture_on_commit_callbacks, suffix, options
):
    encoded = ffmpeg_encode(call_wav(), suffix, *options)
    before = upload_dirs()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_logged.post(UPLOAD_URL, {
            "phone_number": "600 123 456", "file": SimpleUploadedFile(f"old-system{suffix}", encoded),
        }, follow=True)

    call = Call.objects.get()
    assert response.redirect_chain == [(f"/admin/calls/call/{call.pk}/change/", 302)]
    assert stored_layout(call)[:3] == (2, 8000, 2) and call.recording.name.endswith("-uploaded.wav")
    assert call.duration == pytest.approx(9.0, abs=0.2)  # AAC adds a few ms of priming
    assert call.processing["status"] == "done" and len(call.transcript) == 4
    assert [turn["speaker"] for turn in call.transcript] == ["Bot", "Client", "Bot", "Client"]
    assert call.extracted_data["place"] == "Madrid"
    assert upload_dirs() == before


@needs_ffmpeg
def test_a_44_1_khz_stereo_float_wav_is_converted_and_keeps_its_two_sides(
    admin_client_logged, openai_fake, q_sync, django_capture_on_commit_callbacks
):
    float_wav = ffmpeg_encode(call_wav(), ".wav", "-ar", "44100", "-c:a", "pcm_f32le")
    assert wave_format(float_wav) == (3, 2, 44100, 32)  # IEEE float, stereo, as Audacity and DAWs write

    with django_capture_on_commit_callbacks(execute=True):
        admin_client_logged.post(UPLOAD_URL, {"phone_number": "600 123 456", "file": wav_file(float_wav)})

    call = Call.objects.get()
    assert stored_layout(call) == (2, 8000, 2, 9.0)
    assert CallEvent.objects.get(call=call, kind="recording_uploaded").detail == {"channels": 2, "seconds": 9.0}
    assert call.processing["status"] == "done" and call.extracted_data["place"] == "Madrid"
    assert [turn["speaker"] for turn in call.transcript] == ["Bot", "Client", "Bot", "Client"]


def test_an_8_bit_wav_at_8_khz_is_converted_by_pydub_alone(
    admin_client_logged, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setenv("PATH", "/nonexistent")  # no ffmpeg: pydub reads and widens integer PCM itself

    with django_capture_on_commit_callbacks(execute=True):
        admin_client_logged.post(UPLOAD_URL, {"phone_number": "600 123 456", "file": wav_file(eight_bit_wav())})

    call = Call.objects.get()
    assert stored_layout(call) == (1, 8000, 2, 9.0)


DAMAGED = b"\xff\xfb\x90\x00" + bytes(range(256)) * 40  # an mp3 frame header, then noise
# A playlist would have ffmpeg read the files it names: refused like any file that is not audio.
PLAYLIST = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"


@needs_ffmpeg
@pytest.mark.parametrize(("name", "damaged"), [
    ("interview.mp3", DAMAGED), ("interview.m4a", DAMAGED), ("interview.wav", DAMAGED), ("list.m3u8", PLAYLIST),
])
def test_a_damaged_file_is_refused_with_a_clear_message_and_leaves_nothing(
    admin_client_logged, settings, django_capture_on_commit_callbacks, name, damaged
):
    before = upload_dirs()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client_logged.post(
            UPLOAD_URL, {"phone_number": "600 123 456", "file": SimpleUploadedFile(name, damaged)}
        )

    assert response.status_code == 400
    (error,) = response.context["form"].errors["file"]
    assert error.startswith("This file could not be read as audio") and "Upload an mp3, m4a, ogg, webm" in error
    assert Call.objects.count() == 0 and Contact.objects.count() == 0 and callbacks == []
    assert media_files(settings) == [] and upload_dirs() == before


def test_without_ffmpeg_an_mp3_is_refused_saying_so(admin_client_logged, settings, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")

    response = admin_client_logged.post(
        UPLOAD_URL, {"phone_number": "600 123 456", "file": SimpleUploadedFile("call.mp3", b"ID3" + bytes(500))}
    )

    assert response.status_code == 400
    assert "ffmpeg, which converts it, is not installed on the server" in response.context["form"].errors["file"][0]
    assert Call.objects.count() == 0 and media_files(settings) == []


@needs_ffmpeg
@pytest.mark.parametrize(("setting", "value", "message"), [
    ("RECORDING_UPLOAD_MAX_BYTES", 10_000, "The file is bigger than the limit of 0.00954 MB"),
    ("RECORDING_UPLOAD_MAX_SECONDS", 5, "The recording is longer than the limit of 5 seconds"),
    ("RECORDING_CONVERT_TIMEOUT", 0.001, "Converting this file took longer than 0.001 seconds and was stopped"),
])
def test_what_an_upload_may_cost_is_bounded(admin_client_logged, settings, setting, value, message):
    setattr(settings, setting, value)
    mp3 = ffmpeg_encode(call_wav(), ".mp3")
    before = upload_dirs()

    response = admin_client_logged.post(
        UPLOAD_URL, {"phone_number": "600 123 456", "file": SimpleUploadedFile("call.mp3", mp3)}
    )

    assert response.status_code == 400 and message in response.context["form"].errors["file"][0]
    assert Call.objects.count() == 0 and media_files(settings) == [] and upload_dirs() == before


def test_a_wav_in_our_layout_longer_than_the_limit_is_refused(admin_client_logged, settings):
    settings.RECORDING_UPLOAD_MAX_SECONDS = 5

    response = admin_client_logged.post(UPLOAD_URL, {"phone_number": "600 123 456", "file": wav_file()})

    assert "The recording is longer than the limit of 5 seconds" in response.context["form"].errors["file"][0]
    assert Call.objects.count() == 0


def wave_format(data: bytes) -> tuple[int, int, int, int]:
    """(format, channels, rate, bits) from a WAV's fmt chunk (the wave module refuses float files); for an
    extensible WAV, the format of its sub-format GUID."""
    fmt = data.index(b"fmt ") + 8

    def number(start: int, size: int) -> int:
        return int.from_bytes(data[fmt + start:fmt + start + size], "little")

    tag = number(0, 2)
    return number(24, 2) if tag == 0xFFFE else tag, number(2, 2), number(4, 4), number(14, 2)
