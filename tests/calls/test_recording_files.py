"""Recordings on disk are private to the service's user: files 0600, the folders made for them 0700, whatever the
umask. Both ways a recording arrives: written live by the media stream, uploaded by staff in the admin."""
import os
import stat
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from calls.models import Call
from tests.calls.test_consumers import TwilioStream, dial, live, realtime  # noqa: F401 (live is a fixture)
from tests.extraction.sounds import call_wav
from simulator.openai_realtime import RealtimeScenario


@pytest.fixture(autouse=True)
def permissive_umask():
    """The usual umask, with which a plain open() makes files anyone on the machine can read."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def assert_private(media_root: str, recording: str) -> None:
    """MEDIA_ROOT, every folder under it 0700 and every file 0600, the recording among them."""
    root = Path(media_root)
    assert (root / recording).is_file()
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path.relative_to(root.parent)} is {oct(mode)}"


async def short_call(settings, fake_twilio, scenario: RealtimeScenario | None = None) -> tuple[Call, str]:
    """A whole call through /media-stream: the opening, 1.2 s of the callee, hang-up. (The call, the OpenAI key.)"""
    async with realtime(settings, scenario) as server:
        call, token = await dial(fake_twilio)
        twilio = TwilioStream(call.twilio_sid, token)
        assert (await twilio.open())[0]
        await twilio.start()
        await server.wait_for("response.create")
        await twilio.stream(b"\xff" * 160 * 60)
        await twilio.stop()
        await twilio.hang_up()
    await call.arefresh_from_db()
    return call, server.api_key


@pytest.mark.django_db(transaction=True)
async def test_a_live_calls_recording_is_readable_by_the_service_only(settings, live):  # noqa: F811 (the fixture)
    call, _ = await short_call(settings, live)
    assert call.recording.name
    assert_private(settings.MEDIA_ROOT, call.recording.name)


@pytest.mark.django_db
def test_an_uploaded_recording_is_readable_by_the_service_only(admin_client_logged, settings):
    response = admin_client_logged.post("/admin/calls/call/upload/", {
        "phone_number": "600 123 456", "called_at": "2026-11-20T10:30",
        "file": SimpleUploadedFile("old-system.wav", call_wav(), content_type="audio/wav"),
    })
    assert response.status_code == 302
    assert_private(settings.MEDIA_ROOT, Call.objects.get().recording.name)
