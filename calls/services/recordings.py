"""Where a live call's recording is written, how (private to the service's user), and how a recording orphaned by a
crash is found again."""
import logging
import os
from pathlib import Path
from typing import BinaryIO

from django.conf import settings

from calls.models import Call, CallEvent

logger = logging.getLogger(__name__)


def recording_name_for(*, call: Call) -> str:
    """The recording's name relative to MEDIA_ROOT, derived from the call alone (so it can be found again)."""
    return f"recordings/{call.created_at:%Y/%m}/{call.twilio_sid or call.code}.wav"


def recording_file_open(path: Path) -> BinaryIO:
    """Create (or empty) the recording at `path` for writing: the file mode 0600, each folder made for it 0700.

    A recording is a person's voice: only the user the service runs as may read it, whatever the umask.
    """
    missing = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)  # mkdir's mode is filtered by the umask
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when the file was already there
    return os.fdopen(fd, "wb")


def call_recording_recover(*, call: Call) -> bool:
    """Link the recording a crashed web process left on disk (written as the call went) to its call.

    Writes call.recording and a `recording_recovered` CallEvent when the call streamed audio, has no recording
    linked and the file exists. Returns whether it linked one. Enqueues nothing (the final status does).
    """
    if call.recording or not call.stream_sid:
        return False
    name = recording_name_for(call=call)
    if not (Path(settings.MEDIA_ROOT) / name).is_file():
        return False
    Call.objects.filter(pk=call.pk, recording="").update(recording=name)
    call.recording.name = name
    CallEvent.objects.create(call=call, kind=CallEvent.Kind.RECORDING_RECOVERED, detail={"recording": name})
    logger.info("Recovered the recording of sid=%s after its stream was cut off", call.twilio_sid)
    return True
