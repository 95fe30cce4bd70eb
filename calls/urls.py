"""HTTP routes of the calls app."""
from django.urls import path

urlpatterns: list = []
