"""Recording files and call rows go together: replacing, deleting (one call, many, a contact) and a call deleted
while its media stream still records. No file is lost before its replacement is saved, none is left behind."""
import asyncio
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from calls.models import Call
from calls.services.recordings import recording_name_for
from tests.calls.test_consumers import answered_call, live  # noqa: F401 (live is a fixture)
from tests.extraction.sounds import call_wav
from tests.factories import CallFactory
from simulator.polling import async_wait_for


def _files(settings) -> list[str]:
    root = Path(settings.MEDIA_ROOT)
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


def _recorded(name: str) -> Call:
    call = CallFactory(status="completed")
    call.recording.save(name, SimpleUploadedFile(name, call_wav()), save=True)
    return call


@pytest.mark.django_db
def test_deleting_calls_in_the_admin_deletes_their_recordings(admin_client_logged, settings,
                                                             django_capture_on_commit_callbacks):
    doomed, kept = _recorded("CAdoomed.wav"), _recorded("CAkept.wav")
    extra = _recorded("CAextra.wav")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_logged.post("/admin/calls/call/", {
            "action": "delete_selected", "_selected_action": [doomed.pk, extra.pk], "post": "yes"})
    assert response.status_code == 302
    assert list(Call.objects.values_list("pk", flat=True)) == [kept.pk]
    assert _files(settings) == [kept.recording.name]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_delete_keeps_the_recording(settings):
    call = _recorded("CAkept.wav")
    with pytest.raises(RuntimeError), transaction.atomic():
        Call.objects.filter(pk=call.pk).delete()
        raise RuntimeError("rolled back")
    assert Call.objects.filter(pk=call.pk).exists() and _files(settings) == [call.recording.name]


@pytest.mark.django_db
def test_replacing_a_recording_deletes_the_old_file_only_after_commit(admin_client_logged, settings, monkeypatch,
                                                                     django_capture_on_commit_callbacks):
    monkeypatch.setattr("extraction.services.async_task", lambda *args, **kwargs: None)
    call = _recorded("CAold.wav")
    old = call.recording.name
    upload = SimpleUploadedFile("new.wav", call_wav(), content_type="audio/wav")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin_client_logged.post(f"/admin/calls/call/{call.pk}/recording/", {"file": upload})
        assert response.status_code == 302
        call.refresh_from_db()
        assert call.recording.name.endswith("-uploaded.wav")
        assert _files(settings) == sorted([call.recording.name, old])  # the old one waits for the commit
    for callback in callbacks:
        callback()
    assert _files(settings) == [call.recording.name]


@pytest.mark.django_db
def test_a_replacement_that_fails_keeps_the_old_recording(admin_client_logged, settings, monkeypatch,
                                                         django_capture_on_commit_callbacks):
    def broken_enqueue(*, call):
        raise RuntimeError("queue down")

    monkeypatch.setattr("extraction.services.process_call_enqueue", broken_enqueue)
    call = _recorded("CAold.wav")
    old = call.recording.name
    upload = SimpleUploadedFile("new.wav", call_wav(), content_type="audio/wav")
    with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True):
        admin_client_logged.post(f"/admin/calls/call/{call.pk}/recording/", {"file": upload})
    call.refresh_from_db()
    assert call.recording.name == old
    assert _files(settings) == [old]  # the old file is there, and no orphan of the new one


@pytest.mark.django_db(transaction=True)
async def test_a_call_deleted_while_it_streams_leaves_no_recording(settings, live):  # noqa: F811 (the fixture)
    async with answered_call(settings, live) as (server, call, twilio):
        await server.wait_for("response.create")
        await twilio.stream(b"\xff" * 160 * 100)
        wav = Path(settings.MEDIA_ROOT) / recording_name_for(call=call)
        await async_wait_for(wav.is_file, what="the live recording on disk")
        await sync_to_async(Call.objects.filter(pk=call.pk).delete)()
        await twilio.stop()
        await asyncio.wait_for(twilio.closed.wait(), 5)
    await async_wait_for(lambda: not wav.exists(), timeout=5, what="the deleted call's recording to go")
    assert _files(settings) == []
