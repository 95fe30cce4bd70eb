"""Uploaded contact files kept between the admin's import preview and its confirm step.

They are rows of the database (`PendingImport`), so the confirm may land on any web process or host: the README
promises that no sticky sessions are needed. The confirm form carries only an opaque token, and a token finds the
file only for the staff user who uploaded it. A file is deleted as it is confirmed; one nobody confirms expires
after MAX_AGE and is deleted when it is next asked for, at every new preview, and by the periodic
`contacts.tasks.import_uploads_purge`.
"""
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone

from contacts.models import PendingImport

MAX_AGE = timedelta(hours=24)


class UploadExpired(LookupError):
    """The previewed file is gone; the message tells staff why, in words they understand."""


def upload_keep(*, upload: UploadedFile, user: AbstractBaseUser) -> str:
    """Store the upload as a PendingImport of `user` and return its token; deletes the expired ones first."""
    import_uploads_purge()
    upload.seek(0)
    pending = PendingImport.objects.create(
        token=secrets.token_hex(16), uploaded_by=user, filename=(upload.name or "")[-255:], content=upload.read()
    )
    return pending.token


def upload_take(*, token: str, user: AbstractBaseUser) -> PendingImport:
    """The file `user` previewed under `token`, deleted from the database so it is imported once.

    Raises UploadExpired when there is none for this user (already imported, another user's, forged) or it is
    older than MAX_AGE (it is deleted all the same).
    """
    pending = PendingImport.objects.filter(token=token, uploaded_by=user).first()
    # Deleting before importing: of two confirms of one preview (a double click), only one finds the file.
    if pending is None or not PendingImport.objects.filter(pk=pending.pk).delete()[0]:
        raise UploadExpired("This preview has expired or was already imported. Please upload the file again.")
    if pending.created_at < timezone.now() - MAX_AGE:
        raise UploadExpired(
            f"This preview has expired: it is more than {MAX_AGE.total_seconds() / 3600:.0f} hours old. "
            "Please upload the file again."
        )
    return pending


def import_uploads_purge() -> int:
    """Delete every PendingImport older than MAX_AGE; returns how many."""
    return PendingImport.objects.filter(created_at__lt=timezone.now() - MAX_AGE).delete()[0]
