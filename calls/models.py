"""What is stored about each call: its state machine, recording, transcripts, extracted data and timeline."""
import uuid
from dataclasses import dataclass

from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _

from contacts.models import Contact


class CallStatus(models.TextChoices):
    """Twilio's call states. The order of RANK is the only direction a call may move in."""

    QUEUED = "queued", _("Queued")
    INITIATED = "initiated", _("Dialling")
    RINGING = "ringing", _("Ringing")
    IN_PROGRESS = "in-progress", _("In progress")
    COMPLETED = "completed", _("Completed")
    BUSY = "busy", _("Busy")
    NO_ANSWER = "no-answer", _("No answer")
    CANCELED = "canceled", _("Canceled")
    FAILED = "failed", _("Failed")


FINAL_STATUSES = frozenset(
    {CallStatus.COMPLETED, CallStatus.BUSY, CallStatus.NO_ANSWER, CallStatus.CANCELED, CallStatus.FAILED}
)
STATUS_RANK = {
    CallStatus.QUEUED: 0,
    CallStatus.INITIATED: 1,
    CallStatus.RINGING: 2,
    CallStatus.IN_PROGRESS: 3,
    **{status: 4 for status in FINAL_STATUSES},
}


def status_can_move(current: str, new: str) -> bool:
    """A call only moves forward, and a final state is final."""
    if current in FINAL_STATUSES:
        return False
    return STATUS_RANK[CallStatus(new)] > STATUS_RANK[CallStatus(current)]


class EndReason(models.TextChoices):
    """Why a call ended, in our own words (Twilio's status says only *that* it ended)."""

    BOT_HANGUP = "bot_hangup", _("The bot said goodbye")
    CALLEE_HANGUP = "callee_hangup", _("The callee hung up")
    DURATION_LIMIT = "duration_limit", _("Duration limit reached")
    SILENCE = "silence", _("The callee stayed silent")
    VOICEMAIL = "voicemail", _("Answering machine")
    TRANSFERRED = "transferred", _("Transferred to a person")
    STAFF_HANGUP = "staff_hangup", _("Hung up by staff")
    AI_UNAVAILABLE = "ai_unavailable", _("The AI service failed")
    STREAM_LOST = "stream_lost", _("The audio stream dropped")
    NOT_ANSWERED = "not_answered", _("Not answered")
    DIAL_FAILED = "dial_failed", _("Twilio could not place the call")
    STALE = "stale", _("Reconciled after a lost update")


class Call(models.Model):
    """One outbound call to a contact, from queueing to extracted data."""

    code = models.UUIDField(_("code"), default=uuid.uuid4, unique=True, editable=False)
    contact = models.ForeignKey(Contact, verbose_name=_("contact"), on_delete=models.CASCADE, related_name="calls")
    phone_number = models.CharField(_("phone number"), max_length=20, help_text=_("The number dialled (E.164)."))
    twilio_sid = models.CharField(_("call SID"), max_length=64, unique=True, null=True, blank=True)
    stream_sid = models.CharField(_("stream SID"), max_length=64, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=CallStatus.choices, default=CallStatus.QUEUED,
                              db_index=True)
    status_sequence = models.IntegerField(_("status sequence"), default=-1,
                                          help_text=_("Highest Twilio SequenceNumber applied."))
    end_reason = models.CharField(_("end reason"), max_length=30, choices=EndReason.choices, blank=True)
    answered_by = models.CharField(_("answered by"), max_length=30, blank=True)
    error = models.TextField(_("error"), blank=True, help_text=_("Why the call could not be placed or ended badly."))
    campaign = models.ForeignKey(
        "campaigns.Campaign", verbose_name=_("campaign"), null=True, blank=True, on_delete=models.SET_NULL,
        related_name="calls"
    )
    campaign_attempt = models.PositiveSmallIntegerField(_("campaign attempt"), null=True, blank=True,
                                                        help_text=_("Attempt number in it."))
    is_test = models.BooleanField(
        _("test call"), default=False, db_index=True,
        help_text=_("Staff talked to the bot from the browser (Try this script): no phone, kept out of the figures."))
    test_profile = models.CharField(
        _("test profile"), max_length=100, blank=True,
        help_text=_("The agent profile a test call tried (\"\" for AI/'s own)."))

    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    duration = models.FloatField(_("duration"), null=True, blank=True, help_text=_("Seconds."))

    # Single-use, expiring token that the media stream must present (stored hashed).
    stream_token_hash = models.CharField(_("stream token hash"), max_length=64, blank=True)
    stream_token_expires_at = models.DateTimeField(_("stream token expires at"), null=True, blank=True)
    stream_token_used_at = models.DateTimeField(_("stream token used at"), null=True, blank=True)

    recording = models.FileField(_("recording"), upload_to="recordings/%Y/%m/", blank=True)
    recording_deleted_at = models.DateTimeField(_("recording deleted at"), null=True, blank=True)
    live_transcript = models.JSONField(_("live transcript"), default=list, blank=True,
                                       help_text=_("Turns heard during the call."))
    transcript = models.JSONField(_("transcript"), default=list, blank=True,
                                  help_text=_("Timed Bot/Client turns after processing."))
    conversation = models.TextField(_("conversation"), blank=True,
                                    help_text=_("The transcript as 'Bot: …' / 'Client: …' lines."))
    extracted_data = models.JSONField(_("extracted data"), default=dict, blank=True)
    extraction_error = models.TextField(_("extraction error"), blank=True)
    processing = models.JSONField(_("processing"), default=dict, blank=True,
                                  help_text=_("Post-call steps: timings and errors."))
    token_usage = models.JSONField(_("token usage"), default=dict, blank=True)
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    transfer = models.JSONField(
        _("transfer"), default=dict, blank=True,
        help_text=_("The hand-off to a person (transfer_call): reason, number, dial outcome (calls.transfer)."))
    cost = models.JSONField(_("cost"), default=dict, blank=True,
                            help_text=_("What each part cost (calls.pricing.CallCost)."))
    cost_total = models.DecimalField(_("cost total"), max_digits=12, decimal_places=6, null=True, blank=True,
                                     help_text=_("The whole call's cost, in the price table's currency."))

    class Meta:
        verbose_name, verbose_name_plural = _("call"), _("calls")
        ordering = ["-created_at", "-id"]
        # The dashboard's per-day and per-campaign aggregates read ranges of created_at.
        indexes = [models.Index(fields=["campaign", "created_at"], name="call_campaign_created_idx")]
        # What costs money or exposes a voice, beyond view/add/change/delete (granted through the roles in README).
        permissions = [
            ("place_call", "Can place calls"),
            ("hangup_call", "Can hang up live calls"),
            ("listen_recording", "Can listen to recordings (the player)"),
            ("download_recording", "Can download recordings"),
            ("rerun_processing", "Can re-run transcription and extraction"),
            ("upload_recording", "Can upload recordings"),
            ("export_calls", "Can export calls"),
        ]

    def __str__(self) -> str:
        return f"{self.phone_number} · {self.get_status_display()} · {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def agent_profile(self) -> str:
        """The agent profile (AI/profiles/<name>/) its campaign uses, or a test call the one it tried; "" for AI/'s
        own (no campaign, or none set)."""
        if self.campaign_id:
            return self.campaign.profile
        return self.test_profile if self.is_test else ""

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


@receiver(post_delete, sender=Call, dispatch_uid="calls.call_recording_file_delete")
def _call_recording_file_delete(sender, instance: Call, using: str, **kwargs) -> None:
    """A deleted call takes its recording file along, once the deletion is committed (a rollback keeps both).

    A signal, not Call.delete(): admin bulk deletes, querysets and the cascade from a deleted Contact all send it.
    """
    name, storage = instance.recording.name, instance.recording.storage
    if name:
        transaction.on_commit(lambda: storage.delete(name), using=using)


@dataclass(frozen=True)
class CallMeasures:
    """Call.metrics or Call.token_usage read back: what the relay measured or counted, by name, in the order it
    wrote them (token details nested one level). Anything but a JSON object reads as nothing measured."""

    values: dict[str, object]

    @classmethod
    def from_stored(cls, value: object) -> "CallMeasures":
        return cls(values=dict(value) if isinstance(value, dict) else {})


class CallEvent(models.Model):
    """One line on a call's timeline: status changes, DTMF digits, barge-ins, errors."""

    class Kind(models.TextChoices):
        """What happened, with the words staff read on the call's timeline."""

        DIALLED = "dialled", _("Sent to Twilio")
        DIAL_FAILED = "dial_failed", _("Twilio refused the call")
        STATUS = "status", _("Status changed")
        AMD = "amd", _("Answering-machine check")
        STREAM_STARTED = "stream_started", _("Audio connected")
        STREAM_ENDED = "stream_ended", _("Audio disconnected")
        HANGUP_REQUESTED = "hangup_requested", _("Staff asked to hang up")
        SAY_AND_HANGUP = "say_and_hangup", _("Said goodbye and hung up")
        HANG_UP = "hang_up", _("The bot hung up")
        BARGE_IN = "barge_in", _("The callee interrupted")
        DTMF = "dtmf", _("Key pressed")
        TOOL_CALLED = "tool_called", _("The bot used a tool")
        LISTENED = "listened", _("Staff listened in")
        WHISPER = "whisper", _("Staff whispered to the bot")
        TRANSFER = "transfer", _("Transferred to a person")
        TRANSFER_OUTCOME = "transfer_outcome", _("Transfer answered or not")
        PROMPT_VALUES_MISSING = "prompt_values_missing", _("Prompt variables left empty")
        AI_ERROR = "ai_error", _("AI service error")
        AI_UNAVAILABLE = "ai_unavailable", _("AI service unavailable")
        FAILED = "failed", _("Failed")
        RECORDING_RECOVERED = "recording_recovered", _("Recording recovered after a restart")
        RECORDING_UPLOADED = "recording_uploaded", _("Recording uploaded")
        RECORDING_DELETED = "recording_deleted", _("Recording deleted")

    call = models.ForeignKey(Call, verbose_name=_("call"), on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(_("at"), auto_now_add=True)
    kind = models.CharField(_("kind"), max_length=40, choices=Kind.choices)
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    class Meta:
        verbose_name, verbose_name_plural = _("call event"), _("call events")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at:%H:%M:%S}"

    @property
    def details(self) -> dict[str, object]:
        """`detail` read back: the object written with the event; any other stored value, under "detail"."""
        if isinstance(self.detail, dict):
            return self.detail
        return {"detail": self.detail} if self.detail not in (None, "", []) else {}
