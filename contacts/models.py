"""What the CRM stores about the people we call."""
from django.conf import settings
from django.db import models
from django.utils import timezone


class Contact(models.Model):
    """A person to call (the prototype's "user"), keyed by an E.164 number."""

    phone_number = models.CharField(
        "phone number", max_length=20, unique=True, help_text="E.164, e.g. +34600123456"
    )
    name = models.CharField(max_length=200, blank=True)
    comments = models.TextField(blank=True)
    do_not_call = models.BooleanField(
        "do not call", default=False, help_text="Never place a call to this contact."
    )
    number_invalid = models.BooleanField(
        "number rejected by carrier", default=False,
        help_text="Twilio refused the number as invalid; it is not dialled again until you correct it.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_called_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.phone_number})" if self.name else self.phone_number


class PendingImport(models.Model):
    """A contact file between the admin's import preview and its confirm step (see contacts.import_uploads).

    In the database rather than on one host's disk, so the confirm may reach any web process or host.
    """

    token = models.CharField(max_length=32, unique=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    filename = models.CharField(max_length=255)
    content = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.filename} (uploaded {self.created_at:%Y-%m-%d %H:%M})"
