"""Top-level routes: the admin, the prototype's API paths, the OpenAPI schema."""
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from voicebot_site.authentication import LoginLimitedAuthenticationForm
# django-q2's pages for superusers only: re-registered before admin.site.urls below reads the registry.
from voicebot_site import task_queue_admin  # noqa: F401

admin.site.site_header = "voicebot"
admin.site.site_title = "voicebot"
admin.site.index_title = _("Contacts and calls")
admin.site.index_template = "admin/voicebot/index.html"  # the calls dashboard above the list of sections
admin.site.login_form = LoginLimitedAuthenticationForm  # says when failed logins locked the account or address

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("calls.urls")),
    path("", include("contacts.urls")),
    path("", include("campaigns.urls")),
]
