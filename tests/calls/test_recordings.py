"""/recordings/<name>: staff-only, no path traversal, HTTP Range for the admin's player."""
import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import CallFactory

pytestmark = pytest.mark.django_db

AUDIO = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture
def recorded_call():
    call = CallFactory(twilio_sid="CA" + "a" * 32)
    call.recording.save(f"{call.twilio_sid}.wav", ContentFile(AUDIO))  # upload_to puts it under recordings/Y/m/
    return call


def url_of(call) -> str:
    return "/" + call.recording.name  # the record's audio_file_name is `recordings/YYYY/MM/CA….wav`


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_it_serves_the_recording_to_staff(api, recorded_call):
    assert recorded_call.recording.name.startswith("recordings/")

    response = api.get(url_of(recorded_call))

    assert response.status_code == 200
    assert body(response) == AUDIO
    assert response["Content-Type"] in ("audio/wav", "audio/x-wav")
    assert response["Accept-Ranges"] == "bytes"
    assert "private" in response["Cache-Control"]


def test_it_accepts_audio_file_name_appended_to_the_recordings_prefix(api, recorded_call):
    response = api.get("/recordings/" + recorded_call.recording.name)

    assert response.status_code == 200 and body(response) == AUDIO


@pytest.mark.parametrize("header, status, expected_range, expected_body", [
    ("bytes=0-99", 206, "bytes 0-99/10240", AUDIO[:100]),
    ("bytes=10000-", 206, "bytes 10000-10239/10240", AUDIO[10000:]),
    ("bytes=-40", 206, "bytes 10200-10239/10240", AUDIO[-40:]),
    ("bytes=10200-99999", 206, "bytes 10200-10239/10240", AUDIO[10200:]),
])
def test_it_answers_range_requests_with_206(api, recorded_call, header, status, expected_range, expected_body):
    response = api.get(url_of(recorded_call), HTTP_RANGE=header)

    assert response.status_code == status
    assert response["Content-Range"] == expected_range
    assert body(response) == expected_body
    assert int(response["Content-Length"]) == len(expected_body)


def test_it_answers_416_to_a_range_past_the_end(api, recorded_call):
    response = api.get(url_of(recorded_call), HTTP_RANGE="bytes=20000-")

    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */10240"


@pytest.mark.parametrize("header, status, expected_range", [
    ("bytes=" + "9" * 5000 + "-", 416, "bytes */10240"),
    ("bytes=" + "9" * 5000 + "-" + "9" * 5000, 416, "bytes */10240"),
    ("bytes=0-" + "9" * 5000, 206, "bytes 0-10239/10240"),
    ("bytes=-" + "9" * 5000, 206, "bytes 0-10239/10240"),
    ("bytes=" + "0" * 5000 + "1-2", 206, "bytes 1-2/10240"),
], ids=["huge-start", "huge-start-and-end", "huge-end", "huge-suffix", "leading-zeros"])
def test_it_reads_positions_of_thousands_of_digits(api, recorded_call, header, status, expected_range):
    response = api.get(url_of(recorded_call), HTTP_RANGE=header)

    assert response.status_code == status
    assert response["Content-Range"] == expected_range


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=9-3", "items=0-5"])
def test_it_sends_the_whole_file_for_a_range_it_does_not_serve(api, recorded_call, header):
    response = api.get(url_of(recorded_call), HTTP_RANGE=header)

    assert response.status_code == 200 and body(response) == AUDIO


def test_it_refuses_anonymous_and_non_staff_users(client, plain_user, recorded_call):
    assert client.get(url_of(recorded_call)).status_code in (401, 403)
    client.force_login(plain_user)
    assert client.get(url_of(recorded_call)).status_code == 403


def test_a_logged_out_browser_is_sent_to_the_login_page_and_back(client, recorded_call):
    response = client.get(url_of(recorded_call), HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=") and "recordings" in response["Location"]
    assert b"RIFF" not in response.content


def test_it_serves_staff_with_a_session_or_a_token(client, staff_user, recorded_call):
    client.force_login(staff_user)
    assert client.get(url_of(recorded_call)).status_code == 200

    token = APIClient(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff_user).key}")
    assert token.get(url_of(recorded_call)).status_code == 200


@pytest.mark.parametrize("name", [
    "2026/11/CAnothere.wav",
    "../../voicebot_site/settings.py",
    "2026/../../../etc/passwd",
    "%2e%2e/%2e%2e/etc/passwd",
])
def test_it_answers_404_for_unknown_names_and_traversal(api, recorded_call, name):
    assert api.get("/recordings/" + name).status_code == 404


def test_it_does_not_serve_a_file_under_media_that_no_call_owns(api, settings, recorded_call):
    stray = recorded_call.recording.storage.save("recordings/stray.wav", ContentFile(b"secret"))

    assert api.get("/" + stray).status_code == 404


def test_it_answers_404_once_the_recording_is_deleted(api, recorded_call):
    recorded_call.recording_deleted_at = timezone.now()
    recorded_call.save()

    assert api.get(url_of(recorded_call)).status_code == 404


def test_it_answers_404_when_the_file_is_missing_on_disk(api, recorded_call):
    recorded_call.recording.storage.delete(recorded_call.recording.name)

    assert api.get(url_of(recorded_call)).status_code == 404
