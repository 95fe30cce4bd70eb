"""The site as an app: it owns the failed-login records (models.py) and their admin page."""
from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VoicebotSiteConfig(AppConfig):
    name = "voicebot_site"
    verbose_name = _("Logins")
