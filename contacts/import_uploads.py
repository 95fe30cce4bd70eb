"""Uploaded contact files kept on disk between the admin's import preview and its confirm step.

The confirm form carries only an opaque token; the token is checked against a strict pattern, so a forged one
can never name a file outside this folder. Files left behind by previews nobody confirmed expire after a day.
"""
import re
import secrets
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

_TOKEN = re.compile(r"^[0-9a-f]{32}$")
_MAX_AGE_SECONDS = 24 * 3600


class UploadExpired(LookupError):
    """The previewed file is gone (expired, already imported, or the token was tampered with)."""


def _folder() -> Path:
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR or tempfile.gettempdir()) / "voicebot-contact-imports"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def upload_keep(*, upload: UploadedFile) -> str:
    """Copy the upload to the folder and return the token that names it."""
    _discard_stale()
    token = secrets.token_hex(16)
    upload.seek(0)
    with (_folder() / token).open("wb") as kept:
        for chunk in upload.chunks():
            kept.write(chunk)
    return token


def upload_path(*, token: str) -> Path:
    path = _folder() / token
    if not _TOKEN.match(token or "") or not path.is_file():
        raise UploadExpired(token)
    return path


def upload_discard(*, token: str) -> None:
    if _TOKEN.match(token or ""):
        (_folder() / token).unlink(missing_ok=True)


def _discard_stale() -> None:
    cutoff = time.time() - _MAX_AGE_SECONDS
    for path in _folder().iterdir():
        if path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
