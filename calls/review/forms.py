"""The calls admin's upload forms: a recording for an existing call, or a whole call recorded elsewhere.

They only check the shape of the input; the number and the WAV are judged by the services they are handed to
(contacts.services, extraction.services), whose messages are shown on the form.
"""
from datetime import datetime

from django import forms
from django.utils import timezone

WAV_HELP = ("A 16-bit PCM WAV file. Stereo: the person called on the left, the bot on the right. Mono: the "
            "speakers are told apart automatically (needs the diarization extra).")


class RecordingForm(forms.Form):
    # Empty files reach the service, so one message (RecordingRejected's) says what to upload instead.
    file = forms.FileField(label="Recording (WAV)", allow_empty_file=True, help_text=WAV_HELP,
                           widget=forms.FileInput(attrs={"accept": ".wav,audio/wav,audio/x-wav"}))


class RecordedCallForm(RecordingForm):
    phone_number = forms.CharField(label="Phone number", max_length=40, help_text=(
        "The number of the person in the recording, in any format. A new number becomes a new contact."))
    called_at = forms.DateTimeField(
        label="Date and time of the call", required=False, help_text="Leave empty for now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    field_order = ["phone_number", "called_at", "file"]

    def clean_called_at(self) -> datetime | None:
        called_at = self.cleaned_data["called_at"]
        if called_at and called_at > timezone.now():
            raise forms.ValidationError("The call cannot be in the future.")
        return called_at
