"""HTTP routes of the contacts app (the prototype's /api/users...)."""
from django.urls import path

urlpatterns: list = []
