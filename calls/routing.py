"""Websocket routes: the Twilio media stream at the prototype's path."""
from django.urls import path

websocket_urlpatterns: list = []
