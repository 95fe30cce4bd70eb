from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExtractionConfig(AppConfig):
    name = "extraction"
    verbose_name = _("Post-call extraction")

    def ready(self) -> None:
        from extraction import checks  # noqa: F401  (registers the system checks)
