"""recording_upload: a recording made elsewhere becomes the call's recording and is processed."""
from __future__ import annotations

import io
import sys

import pytest

from calls.models import CallEvent
from extraction.exceptions import RecordingRejected
from extraction.services import recording_upload
from tests.extraction.sounds import CLIENT_SCRIPT, call_wav, needs_ffmpeg, track, wav_bytes

pytestmark = pytest.mark.django_db


def test_it_stores_a_mono_upload_and_processes_it(make_call, openai_fake, q_sync, monkeypatch,
                                                   django_capture_on_commit_callbacks):
    monkeypatch.setitem(sys.modules, "pyannote.audio", None)
    call = make_call(wav=False)
    upload = io.BytesIO(wav_bytes(track(CLIENT_SCRIPT, 9.0)))
    upload.name = "from-the-old-system.wav"

    with django_capture_on_commit_callbacks(execute=True):
        recording_upload(call=call, file=upload)

    call.refresh_from_db()
    assert call.recording.name.endswith("-uploaded.wav") and call.recording.size == len(upload.getvalue())
    assert CallEvent.objects.get(call=call, kind="recording_uploaded").detail == {"channels": 1, "seconds": 9.0}
    assert call.processing["steps"]["diarize"]["status"] == "failed"  # processed: mono needs pyannote here


def test_it_replaces_the_previous_recording_and_clears_its_deletion(make_call, openai_fake, q_sync,
                                                                     django_capture_on_commit_callbacks):
    from django.utils import timezone

    call = make_call(recording_deleted_at=timezone.now())
    previous = call.recording.name

    with django_capture_on_commit_callbacks(execute=True):
        recording_upload(call=call, file=io.BytesIO(call_wav()))

    call.refresh_from_db()
    assert call.recording_deleted_at is None
    assert not call.recording.storage.exists(previous)
    assert call.processing["status"] == "done" and len(call.transcript) == 4


@needs_ffmpeg
def test_it_rejects_a_file_that_is_not_audio(make_call):
    call = make_call(wav=False)

    with pytest.raises(RecordingRejected, match="could not be read as audio"):
        recording_upload(call=call, file=io.BytesIO(b"OggS not audio we can read"), process=False)

    call.refresh_from_db()
    assert not call.recording
