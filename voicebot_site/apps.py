"""The site as an app: it owns the failed-login records (models.py) and their admin page."""
from django.apps import AppConfig


class VoicebotSiteConfig(AppConfig):
    name = "voicebot_site"
    verbose_name = "Logins"
