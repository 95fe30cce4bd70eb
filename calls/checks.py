"""System checks: warn at start-up when credentials are missing (calls then fail with a clear error), refuse
background-task timings under which a task would run twice at once, and a bot configuration (AI/ or an agent
profile) that a call would fail to load."""
from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

from calls.agent_config import AgentConfigError, profile_names
from campaigns.rules import profile_schema_path


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


@register()
def agent_config_check(app_configs, **kwargs) -> list[Error]:
    """AI/ and every agent profile under AI/profiles/ load as a call loads them (each file valid, a profile's files
    merged over AI/'s, its extraction schema importable): a broken one shows at start-up, not on the first call or
    campaign that uses it."""
    errors = []
    for profile in ["", *profile_names(settings.AI_CONFIG_DIR)]:
        try:
            profile_schema_path(profile)
        except (AgentConfigError, ImproperlyConfigured) as exc:
            what = f"Agent profile {profile!r}" if profile else "The bot's configuration (AI_CONFIG_DIR)"
            errors.append(Error(f"{what} cannot be used: {exc}", id="calls.E002"))
    return errors


@register()
def task_timing_check(app_configs, **kwargs) -> list[Error]:
    """Q_RETRY must exceed every task's timeout: the broker hands a task still running after Q_RETRY seconds to
    another worker, so a slow batch would dial its contacts twice. Each task's own timeout is at most Q_TIMEOUT
    (extraction.services.process_call_timeout), so Q_RETRY > Q_TIMEOUT covers them all."""
    retry, timeout = settings.Q_CLUSTER.get("retry"), settings.Q_CLUSTER.get("timeout")
    if retry is not None and timeout is not None and retry > timeout:
        return []
    return [Error(
        f"Q_RETRY ({retry}) must be greater than Q_TIMEOUT ({timeout}).",
        hint="A task still running after Q_RETRY seconds is started again by another worker. Set Q_RETRY above "
        "Q_TIMEOUT, with a margin for the time a task waits in a worker's queue (the defaults are 1900 and 1800).",
        id="calls.E001",
    )]
