"""The development SECRET_KEY: random, made on first start, kept in a git-ignored file readable by its owner only.

Django signs sessions with SECRET_KEY, and django-q2 signs the task payloads it unpickles with it, so a key anyone
can read (one committed to the repository) lets whoever can write to a shared Redis run code in the worker. When
SECRET_KEY is not configured and DEBUG is on, settings take the key from this file instead. Every process started
from one checkout (Daphne, the worker, `manage.py` commands, tests) reads the same file, so they agree on the key.
"""
import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def secret_key_read_or_create(path: Path) -> str:
    """The key stored at `path`; when there is none yet, a new random key written there (mode 0600) first.

    Several processes may start at once: each writes its candidate to a private temporary file and links it into
    place, which fails for all but the first, and every process then reads the one that won. No reader ever sees a
    half-written file.
    """
    if not path.exists():
        candidate = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(64))
            os.link(candidate, path)
        except FileExistsError:
            pass  # another process won the race: use its key
        finally:
            candidate.unlink(missing_ok=True)
    key = path.read_text().strip()
    if not key:
        raise ImproperlyConfigured(f"{path} is empty: delete it to have a new key made, or set SECRET_KEY.")
    return key
