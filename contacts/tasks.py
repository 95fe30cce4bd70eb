"""django-q2 entry points of the contacts app."""
from contacts import import_uploads


def import_uploads_purge() -> int:
    return import_uploads.import_uploads_purge()
