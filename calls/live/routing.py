"""Websocket routes: one call's Twilio media stream at `/media-stream/<call code>` (the URL its TwiML names), and the
staff's live view of a call at `/ws/calls/<id>/live` and its audio at `/ws/calls/<id>/listen`, and a staff member's
test call from the browser at `/ws/try/<call code>` (Twilio's part played by the page).

Twilio's handshake carries no Origin header and no cookie: the media consumer authenticates the request itself.
The staff's socket is the admin's session (AuthMiddlewareStack) and must come from one of ALLOWED_HOSTS' pages.
"""
from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from calls.live.browser_call import BrowserCallConsumer
from calls.live.consumer import MediaStreamConsumer
from calls.live.monitor_consumer import CallListenConsumer, CallMonitorConsumer

websocket_urlpatterns = [
    path("media-stream/<uuid:call_code>", MediaStreamConsumer.as_asgi()),
    path("ws/calls/<int:pk>/live", AllowedHostsOriginValidator(AuthMiddlewareStack(CallMonitorConsumer.as_asgi()))),
    path("ws/try/<uuid:call_code>", AllowedHostsOriginValidator(AuthMiddlewareStack(BrowserCallConsumer.as_asgi()))),
    path("ws/calls/<int:pk>/listen", AllowedHostsOriginValidator(AuthMiddlewareStack(CallListenConsumer.as_asgi()))),
]
