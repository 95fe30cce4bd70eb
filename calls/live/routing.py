"""Websocket routes: the Twilio media stream at the prototype's path."""
from django.urls import path

from calls.live.consumer import MediaStreamConsumer

websocket_urlpatterns = [
    path("media-stream", MediaStreamConsumer.as_asgi()),
]
