from django.apps import AppConfig


class ExtractionConfig(AppConfig):
    name = "extraction"
    verbose_name = "Post-call extraction"

    def ready(self) -> None:
        from extraction import checks  # noqa: F401  (registers the system checks)
