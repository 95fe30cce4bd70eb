"""HTTP routes of the calls app."""
from django.urls import path, re_path

from calls import webhooks
from calls.api import call_actions, history, make_call, recording_download

urlpatterns: list = [
    path("make_call", make_call.make_call, name="make-call"),
    path("twilio/status", webhooks.twilio_status, name="twilio-status"),
    path("twilio/amd", webhooks.twilio_amd, name="twilio-amd"),
    # Each call's own callback URLs (Twilio signs them, code included), so a callback that beats the dial's
    # answer still finds its call. The two above stay for calls placed before these existed.
    path("twilio/status/<uuid:code>", webhooks.twilio_status, name="twilio-status-call"),
    path("twilio/amd/<uuid:code>", webhooks.twilio_amd, name="twilio-amd-call"),
    path("twilio/transfer/<uuid:code>", webhooks.twilio_transfer_outcome, name="twilio-transfer-outcome"),
    path("twilio/transfer/<uuid:code>/whisper", webhooks.twilio_transfer_whisper, name="twilio-transfer-whisper"),
    path("api/calls/", call_actions.CallPlaceApi.as_view(), name="call-place"),
    path("api/calls/<str:sid>/", call_actions.CallDetailApi.as_view(), name="call-detail"),
    path("api/calls/<str:sid>/hangup/", call_actions.CallHangupApi.as_view(), name="call-hangup"),
    re_path(r"^api/call_histories/?$", history.CallHistoryListApi.as_view(), name="call-history-list"),
    re_path(r"^api/call_histories/export/?$", history.CallHistoryExportApi.as_view(), name="call-history-export"),
    re_path(
        r"^api/users/(?P<phone_number>[^/]+)/calls/?$", history.UserCallRecordApi.as_view(), name="user-call-record"
    ),
    path("recordings/<path:name>", recording_download.RecordingApi.as_view(), name="recording"),
]
