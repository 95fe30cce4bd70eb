"""System checks: warn at start-up when credentials are missing (calls then fail with a clear error)."""
from django.conf import settings
from django.core.checks import Warning, register


@register()
def credentials_check(app_configs, **kwargs) -> list[Warning]:
    warnings = []
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PHONE_NUMBER_FROM"):
        if not getattr(settings, name):
            warnings.append(Warning(f"{name} is not set: calls cannot be placed.", id="calls.W001"))
    if not settings.OPENAI_API_KEY:
        warnings.append(Warning("OPENAI_API_KEY is not set: calls cannot talk.", id="calls.W002"))
    if not settings.PUBLIC_BASE_URL and not settings.NGROK_TOKEN:
        warnings.append(Warning(
            "PUBLIC_BASE_URL is not set: Twilio cannot reach this server, so calls cannot be placed.",
            hint="Set PUBLIC_BASE_URL to this server's public https address, or set NGROK_TOKEN and start it with "
            "`manage.py serve` (make run) to open an ngrok tunnel.",
            id="calls.W003",
        ))
    return warnings
