"""HTTP routes of the contacts app: the prototype's /api/users... paths, also answered with a trailing slash.

`import` and `export` come before the phone-number route so they are never read as numbers. The slash
variants are left out of the OpenAPI schema, which documents the prototype's paths only.
POST /api/users/{phone_number}/calls is in calls.urls.
"""
from django.urls import path

from contacts import api

ROUTES = [
    ("api/users", api.ContactListApi, "user-list"),
    ("api/users/import", api.ContactImportApi, "user-import"),
    ("api/users/export", api.ContactExportApi, "user-export"),
    ("api/users/<str:phone_number>", api.ContactDetailApi, "user-detail"),
]

urlpatterns = [path(route, view.as_view(), name=name) for route, view, name in ROUTES] + [
    path(f"{route}/", view.as_view(schema=None), name=f"{name}-slash") for route, view, name in ROUTES
]
