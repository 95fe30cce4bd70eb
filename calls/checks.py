"""System checks: warn at start-up when credentials are missing (calls then fail with a clear error), refuse
background-task timings under which a task would run twice at once, call settings with a value none of theirs,
a bot configuration (AI/ or an agent profile) that a call would fail to load (a misspelt prompt variable, say), and a
price table that cannot be read, before any call is placed."""
from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

from calls.agent_config import AgentConfigError, ToolsFile, load_part, profile_names
from calls.pricing import price_table
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


@register()
def http_tools_check(app_configs, **kwargs) -> list[Warning]:
    """An HTTP tool under AI/ (or a profile) needs TOOLS_SIGNING_SECRET: without it the bot's requests are not sent."""
    if settings.TOOLS_SIGNING_SECRET:
        return []
    named = set()
    for profile in ["", *profile_names(settings.AI_CONFIG_DIR)]:
        try:
            tools = load_part("tools/tools.yaml", settings.AI_CONFIG_DIR, profile)
        except AgentConfigError:
            continue  # a broken file is reported where it is loaded, with its own message
        assert isinstance(tools, ToolsFile)
        named |= {tool.name for tool in tools.tools if tool.http is not None}
    if not named:
        return []
    return [Warning(f"TOOLS_SIGNING_SECRET is not set: the HTTP tools {', '.join(sorted(named))} send nothing.",
                    hint="Set TOOLS_SIGNING_SECRET to a long random value shared with your endpoint.", id="calls.W004")]


@register()
def call_choices_check(app_configs, **kwargs) -> list[Error]:
    """Settings read mid-call with a fixed set of values: a typo is refused at start-up, not met by a live call."""
    errors = []
    for name, allowed in (("AMD_GREETING", ("wait", "at_once")), ("VOICEMAIL_PROCESSING", ("skip", "process"))):
        if getattr(settings, name) not in allowed:
            errors.append(Error(f"{name} must be {' or '.join(allowed)}, not {getattr(settings, name)!r}.",
                                id="calls.E002"))
    if not 1 <= settings.AMD_WAIT_SECONDS <= 60:
        errors.append(Error(f"AMD_WAIT_SECONDS must be 1-60 seconds (Twilio's detection answers within about 5), not "
                            f"{settings.AMD_WAIT_SECONDS:g}.", id="calls.E002"))
    if not 5 <= settings.TRANSFER_DIAL_TIMEOUT <= 600:
        errors.append(Error(f"TRANSFER_DIAL_TIMEOUT must be 5-600 seconds (Twilio's <Dial timeout>), not "
                            f"{settings.TRANSFER_DIAL_TIMEOUT}.", id="calls.E002"))
    return errors


@register()
def prices_check(app_configs, **kwargs) -> list[Error]:
    """A bad PRICES or PRICES_FILE is found at start-up, not when the first call ends and cannot be priced."""
    try:
        price_table()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), hint="See README \"Cost per call\" for the shape.", id="calls.E010")]
    return []
