"""The admin's campaign form: the agent profile picked from those under AI/profiles/, the window as weekday boxes and
hour ranges, retries in minutes per outcome, the required fields as a comma-separated list, instead of raw JSON.
The model's own checks (campaigns.rules) decide."""
from django import forms
from django.conf import settings
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from calls.agent_config import profile_names
from campaigns.models import Campaign
from campaigns.rules import RETRY_OUTCOMES

RETRY_LABELS = {"busy": _("busy"), "no_answer": _("no answer"), "failed": _("failed"), "voicemail": _("voicemail"),
                "ai_unavailable": _("AI unavailable"), "stream_lost": _("stream lost")}
# campaigns.windows.DAY_NAMES in the admin's language (windows.py stays free of Django).
DAY_LABELS = (_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun"))
# Model fields the form edits through fields of its own: their errors are shown there.
_ERRORS_ON = {"window": "hours", "retry_delays": "retry_busy"}


def _retry_field(outcome: str) -> forms.IntegerField:
    return forms.IntegerField(required=False, min_value=1,
                              label=format_lazy(_("Retry after {outcome} (minutes)"), outcome=RETRY_LABELS[outcome]),
                              help_text=_("Empty: no retry after this outcome."))


class CampaignForm(forms.ModelForm):
    profile = forms.ChoiceField(
        required=False, label=_("Agent profile"),
        help_text=_("A folder under AI/profiles/: its files replace AI/'s, the others are AI/'s."))
    days = forms.TypedMultipleChoiceField(
        choices=list(enumerate(DAY_LABELS)), coerce=int, widget=forms.CheckboxSelectMultiple, label=_("Days"),
        help_text=_("Days to call on, in the callee's own time."))
    hours = forms.CharField(label=_("Hours"),
                            help_text=_("Local hour ranges, comma-separated: 10:00-14:00, 17:00-20:00"))
    required_fields = forms.CharField(
        required=False, label=_("Required fields"),
        help_text=_("Extracted fields that must be filled for a success, comma-separated."))
    retry_busy = _retry_field("busy")
    retry_no_answer = _retry_field("no_answer")
    retry_failed = _retry_field("failed")
    retry_voicemail = _retry_field("voicemail")
    retry_ai_unavailable = _retry_field("ai_unavailable")
    retry_stream_lost = _retry_field("stream_lost")

    class Meta:
        model = Campaign
        fields = ["name", "profile", "starts_at", "ends_at", "time_zone", "max_in_flight", "calls_per_second",
                  "max_attempts", "success_rule"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        campaign = self.instance
        if "profile" in self.fields:  # not when the rules are read-only
            names = profile_names(settings.AI_CONFIG_DIR)  # read now: a profile added needs no restart
            gone = [] if campaign.profile in ["", *names] else [
                (campaign.profile, _("%(profile)s (no such folder)") % {"profile": campaign.profile})]
            self.fields["profile"].choices = [("", _("Default agent (AI/)")), *((name, name) for name in names), *gone]
        window = campaign.window or {}
        self.initial.setdefault("days", window.get("days", []))
        self.initial.setdefault("hours", ", ".join("-".join(pair) for pair in window.get("hours", [])))
        # The model's list would show as "[]": the form edits it as text.
        self.initial["required_fields"] = ", ".join(campaign.required_fields or [])
        for outcome in RETRY_OUTCOMES:
            seconds = (campaign.retry_delays or {}).get(outcome)
            self.initial.setdefault(f"retry_{outcome}", None if seconds is None else round(seconds / 60))

    def clean_hours(self) -> list[list[str]]:
        ranges = []
        for part in self.cleaned_data["hours"].split(","):
            start, sep, end = part.strip().partition("-")
            if not sep:
                raise forms.ValidationError(_("%(part)r is not a range like 10:00-14:00.") % {"part": part.strip()})
            ranges.append([start.strip(), end.strip()])
        return ranges

    def clean_required_fields(self) -> list[str]:
        return [name.strip() for name in self.cleaned_data["required_fields"].split(",") if name.strip()]

    def _post_clean(self) -> None:
        data = self.cleaned_data
        self.instance.window = {"days": data.get("days") or [], "hours": data.get("hours") or []}
        self.instance.required_fields = data.get("required_fields", [])
        self.instance.retry_delays = {
            outcome: None if data.get(f"retry_{outcome}") is None else data[f"retry_{outcome}"] * 60
            for outcome in RETRY_OUTCOMES
        }
        super()._post_clean()

    def _update_errors(self, errors) -> None:
        if hasattr(errors, "error_dict"):
            errors.error_dict = {_ERRORS_ON.get(field, field): messages
                                 for field, messages in errors.error_dict.items()}
        super()._update_errors(errors)
