"""What is stored about webhooks out: the endpoints staff configure and every delivery made to them."""
import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from webhooks.addresses import url_refusal

SECRET_PREFIX = "whsec_"


class Event(models.TextChoices):
    """What an endpoint may be told. TEST is only sent by the admin's "Send test event"."""

    CALL_COMPLETED = "call.completed", _("A call reached its final state")
    CALL_PROCESSED = "call.processed", _("A call's transcript and extracted data are ready")
    CAMPAIGN_COMPLETED = "campaign.completed", _("A campaign completed")
    TEST = "webhook.test", _("Test event")


SUBSCRIBABLE = [Event.CALL_COMPLETED, Event.CALL_PROCESSED, Event.CAMPAIGN_COMPLETED]


def secret_generate() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class Endpoint(models.Model):
    """A URL of an integrator's that receives the events it subscribed to, signed with its secret."""

    url = models.URLField(_("URL"), max_length=500, validators=[URLValidator(schemes=["http", "https"])],
                          help_text=_("http:// or https:// address that receives a POST per event."))
    events = models.JSONField(_("events"), default=list, help_text=_("The events sent to it."))
    secret = models.CharField(
        _("secret"), max_length=100, blank=True,
        help_text=_("Signs each delivery (README, \"Webhooks out\"). Leave blank to generate one."))
    active = models.BooleanField(_("active"), default=True,
                                 help_text=_("Inactive endpoints get nothing new; retries stop."))
    description = models.CharField(_("description"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name, verbose_name_plural = _("endpoint"), _("endpoints")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.description or self.url

    def clean(self) -> None:
        errors = {}
        events = self.events if isinstance(self.events, list) else None
        if not events or not set(events) <= set(SUBSCRIBABLE):
            errors["events"] = _("Choose one or more of: %(events)s.") % {"events": ", ".join(SUBSCRIBABLE)}
        refusal = url_refusal(self.url or "", allow_private=settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES)
        if refusal:
            errors["url"] = _("Webhooks may not reach this address: %(reason)s.") % {"reason": refusal}
        if errors:
            raise ValidationError(errors)

    def save(self, *args, **kwargs) -> None:
        if not self.secret:
            self.secret = secret_generate()
        super().save(*args, **kwargs)

    def wants(self, event: str) -> bool:
        return self.active and isinstance(self.events, list) and event in self.events


class Delivery(models.Model):
    """One event sent (or being sent) to one endpoint: the exact body, and how each attempt went."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        RETRYING = "retrying", _("Failed; will retry")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Gave up")

    endpoint = models.ForeignKey(Endpoint, verbose_name=_("endpoint"), on_delete=models.CASCADE,
                                 related_name="deliveries")
    event = models.CharField(_("event"), max_length=40, choices=Event.choices)
    event_id = models.UUIDField(_("event id"), default=uuid.uuid4, db_index=True,
                                help_text=_("The same for a re-send, so receivers can drop duplicates."))
    body = models.TextField(_("body"), help_text=_("The JSON sent, byte for byte."))
    call = models.ForeignKey("calls.Call", verbose_name=_("call"), null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    campaign = models.ForeignKey("campaigns.Campaign", verbose_name=_("campaign"), null=True, blank=True,
                                 on_delete=models.SET_NULL,
                                 related_name="+")
    resent_from = models.ForeignKey("self", verbose_name=_("resent from"), null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(_("response code"), null=True, blank=True,
                                                     help_text=_("Of the last attempt."))
    response_body = models.TextField(_("response body"), blank=True,
                                     help_text=_("The start of the last failed attempt's answer."))
    error = models.CharField(_("error"), max_length=300, blank=True, help_text=_("Why the last attempt failed."))
    duration_ms = models.PositiveIntegerField(_("duration ms"), null=True, blank=True,
                                              help_text=_("Of the last attempt."))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name, verbose_name_plural = _("delivery"), _("deliveries")
        permissions = [("resend_delivery", "Can re-send webhook deliveries")]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint} · {self.get_status_display()}"
