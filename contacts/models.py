"""What the CRM stores about the people we call."""
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from phonenumber_field.modelfields import PhoneNumberField

from contacts.phones import InvalidPhoneNumber, is_allowed_country, is_costly_number, parse_phone


class CallRefusal(models.TextChoices):
    """Why a contact must not be called. Each door words it its own way; Contact.call_refusal decides it."""

    DO_NOT_CALL = "do_not_call", _("do not call")
    NUMBER_INVALID = "number_invalid", _("number rejected by carrier")
    BAD_NUMBER = "bad_number", _("not a valid phone number")
    COSTLY_NUMBER = "costly_number", _("premium-rate or shared-cost number")
    COUNTRY_NOT_ALLOWED = "country_not_allowed", _("country not in ALLOWED_CALL_COUNTRIES")


class Contact(models.Model):
    """A person to call (the prototype's "user"), keyed by an E.164 number."""

    # Stored as E.164 text (PHONENUMBER_DB_FORMAT); read back as a PhoneNumber whose str() is that same text.
    phone_number = PhoneNumberField(
        _("phone number"), max_length=20, unique=True, help_text=_("E.164, e.g. +34600123456")
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    comments = models.TextField(_("comments"), blank=True)
    attributes = models.JSONField(
        _("attributes"), default=dict, blank=True,
        help_text=_("Free-form facts about the person (a spreadsheet's extra columns): name: text or number. "
                    "Prompts read them as {{contact.attributes.<name>}}."),
    )
    do_not_call = models.BooleanField(
        _("do not call"), default=False, help_text=_("Never place a call to this contact.")
    )
    do_not_call_quote = models.CharField(
        _("callee's words"), max_length=300, blank=True,
        help_text=_("What the callee said when asking, during a call, not to be called again."),
    )
    do_not_call_at_ms = models.PositiveIntegerField(
        _("said at (ms into the recording)"), null=True, blank=True,
        help_text=_("Where in that call's recording the callee said it."),
    )
    do_not_call_call = models.ForeignKey(
        "calls.Call", verbose_name=_("asked during call"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    number_invalid = models.BooleanField(
        _("number rejected by carrier"), default=False,
        help_text=_("Twilio refused the number as invalid; it is not dialled again until you correct it."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    last_called_at = models.DateTimeField(_("last called at"), null=True, blank=True, db_index=True)

    class Meta:
        verbose_name, verbose_name_plural = _("contact"), _("contacts")
        ordering = ["-created_at", "-id"]
        permissions = [
            ("import_contacts", "Can import contacts"),
            ("export_contacts", "Can export contacts"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.phone_number})" if self.name else str(self.phone_number)

    # What call_refusal reads: load only these when asking it of many contacts.
    CALL_REFUSAL_FIELDS = ("phone_number", "do_not_call", "number_invalid")

    def call_refusal(self) -> CallRefusal | None:
        """Why we may not call this contact, or None when we may: the one rule every door asks."""
        if self.do_not_call:
            return CallRefusal.DO_NOT_CALL
        if self.number_invalid:
            return CallRefusal.NUMBER_INVALID
        try:
            number = parse_phone(self.phone_number)
        except InvalidPhoneNumber:
            return CallRefusal.BAD_NUMBER
        if is_costly_number(number):
            return CallRefusal.COSTLY_NUMBER
        if not is_allowed_country(number):
            return CallRefusal.COUNTRY_NOT_ALLOWED
        return None


class PendingImport(models.Model):
    """A contact file between the admin's import preview and its confirm step (see contacts.import_uploads).

    In the database rather than on one host's disk, so the confirm may reach any web process or host.
    """

    token = models.CharField(_("token"), max_length=32, unique=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("uploaded by"), on_delete=models.CASCADE,
                                    related_name="+")
    filename = models.CharField(_("filename"), max_length=255)
    content = models.BinaryField(_("content"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name, verbose_name_plural = _("pending import"), _("pending imports")

    def __str__(self) -> str:
        return f"{self.filename} (uploaded {self.created_at:%Y-%m-%d %H:%M})"
