"""The calls admin's upload forms: a recording for an existing call, or a whole call recorded elsewhere.

The number is judged by the contacts' phone field (contacts.phones, the rules every door uses); the audio file by
the service it is handed to (extraction.services, which converts it), whose message is shown on the form.
"""
from datetime import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from contacts.phones import PhoneNumberFormField

RECORDING_HELP = _(
    "An mp3, m4a, ogg, webm or WAV file (any sample rate, 8 to 32-bit or float); it is converted to 8 kHz WAV. "
    "Stereo: the person called on the left, the bot on the right. Mono: the speakers are told apart "
    "automatically (needs the diarization extra)."
)
RECORDING_TYPES = ".wav,.mp3,.m4a,.mp4,.aac,.ogg,.oga,.opus,.webm,audio/*"


class RecordingForm(forms.Form):
    # Empty files reach the service, so one message (RecordingRejected's) says what to upload instead.
    file = forms.FileField(label=_("Recording"), allow_empty_file=True, help_text=RECORDING_HELP,
                           widget=forms.FileInput(attrs={"accept": RECORDING_TYPES}))


class RecordedCallForm(RecordingForm):
    phone_number = PhoneNumberFormField(label=_("Phone number"), max_length=40, help_text=_(
        "The number of the person in the recording, in any format. A new number becomes a new contact."))
    called_at = forms.DateTimeField(
        label=_("Date and time of the call"), required=False, help_text=_("Leave empty for now."),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    field_order = ["phone_number", "called_at", "file"]

    def clean_called_at(self) -> datetime | None:
        called_at = self.cleaned_data["called_at"]
        if called_at and called_at > timezone.now():
            raise forms.ValidationError(_("The call cannot be in the future."))
        return called_at
