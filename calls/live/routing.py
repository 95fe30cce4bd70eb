"""Websocket routes: one call's Twilio media stream at `/media-stream/<call code>` (the URL its TwiML names)."""
from django.urls import path

from calls.live.consumer import MediaStreamConsumer

websocket_urlpatterns = [
    path("media-stream/<uuid:call_code>", MediaStreamConsumer.as_asgi()),
]
