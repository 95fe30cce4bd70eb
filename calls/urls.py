"""HTTP routes of the calls app."""
from django.urls import path, re_path

from calls import api, recordings, views

urlpatterns: list = [
    path("make_call", views.make_call, name="make-call"),
    path("twilio/status", views.twilio_status, name="twilio-status"),
    path("twilio/amd", views.twilio_amd, name="twilio-amd"),
    path("api/calls/", views.CallPlaceApi.as_view(), name="call-place"),
    path("api/calls/<str:sid>/", views.CallDetailApi.as_view(), name="call-detail"),
    path("api/calls/<str:sid>/hangup/", views.CallHangupApi.as_view(), name="call-hangup"),
    re_path(r"^api/call_histories/?$", api.CallHistoryListApi.as_view(), name="call-history-list"),
    re_path(r"^api/call_histories/export/?$", api.CallHistoryExportApi.as_view(), name="call-history-export"),
    re_path(r"^api/users/(?P<phone_number>[^/]+)/calls/?$", api.UserCallRecordApi.as_view(), name="user-call-record"),
    path("recordings/<path:name>", recordings.RecordingApi.as_view(), name="recording"),
]
