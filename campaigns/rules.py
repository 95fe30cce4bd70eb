"""The checks a campaign's rules must pass before it is saved, from any door (admin form, API): one message per
field, as Django's ValidationError, so each door shows it next to what to fix."""
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils.translation import gettext as _

from calls.agent_config import AgentConfigError, load_agent_config
from campaigns.windows import Window, WindowInvalid, zone_infos
from extraction.schemas import extraction_schema_get

RETRY_OUTCOMES = ("busy", "no_answer", "failed", "voicemail", "ai_unavailable", "stream_lost")
MAX_RETRY_DELAY = 7 * 24 * 3600
MAX_ATTEMPTS = 10


def campaign_rules_check(
    *, profile: str, window: object, time_zone: str, max_in_flight: int, calls_per_second: float,
    retry_delays: object, max_attempts: int, success_rule: str, required_fields: object, starts_at, ends_at,
) -> None:
    """Raise ValidationError({field: message}) for every rule that cannot be used; return None when all can."""
    errors: dict[str, str] = {}
    schema_path = ""
    if profile:
        try:
            schema_path = profile_schema_path(profile)
        except (AgentConfigError, ImproperlyConfigured) as exc:
            errors["profile"] = _("Agent profile %(profile)s cannot be used: %(error)s") % {
                "profile": repr(profile), "error": exc}
            schema_path = ""
    try:
        Window.from_json(window)
    except WindowInvalid as exc:
        errors["window"] = str(exc)
    try:
        zone_infos([time_zone])
    except WindowInvalid as exc:
        errors["time_zone"] = str(exc)
    if not 1 <= max_in_flight <= 1000:
        errors["max_in_flight"] = _("Calls at once must be between 1 and 1000.")
    if not 0 < calls_per_second <= settings.CALLS_PER_SECOND:
        errors["calls_per_second"] = _(
            "Calls per second must be above 0 and at most CALLS_PER_SECOND (%(limit)s), Twilio's limit for the account."
        ) % {"limit": f"{settings.CALLS_PER_SECOND:g}"}
    problem = _retry_problem(retry_delays)
    if problem:
        errors["retry_delays"] = problem
    if not 1 <= max_attempts <= MAX_ATTEMPTS:
        errors["max_attempts"] = _("Attempts must be between 1 and %(max)s.") % {"max": MAX_ATTEMPTS}
    problem = _fields_problem(success_rule, required_fields, schema_path)
    if problem:
        errors["required_fields"] = problem
    if starts_at and ends_at and ends_at <= starts_at:
        errors["ends_at"] = _("The end must come after the start.")
    if errors:
        raise ValidationError(errors)


def profile_schema_path(profile: str) -> str:
    """The extraction schema (dotted path, "" for EXTRACTION_SCHEMA) of agent profile `profile` ("": AI/'s own),
    once every file of it, merged over AI/'s as a call loads them, is valid and its schema imports. Raises
    AgentConfigError or ImproperlyConfigured, naming the file."""
    schema_path = load_agent_config(settings.AI_CONFIG_DIR, profile).extraction.schema_path
    extraction_schema_get(schema_path)
    return schema_path


def contact_zone_clean(zone: str) -> str:
    """A contact's own time zone as typed (blank: the number's zones); ValidationError if it is not one."""
    zone = zone.strip()
    if zone:
        try:
            zone_infos([zone])
        except WindowInvalid as exc:
            raise ValidationError(str(exc)) from None
    return zone


def _retry_problem(delays: object) -> str:
    if not isinstance(delays, dict):
        return _("Retry delays must be an object of outcome: seconds.")
    unknown = sorted(set(delays) - set(RETRY_OUTCOMES))
    if unknown:
        return _("Unknown outcomes %(unknown)s; use %(known)s.") % {
            "unknown": ", ".join(map(str, unknown)), "known": ", ".join(RETRY_OUTCOMES)}
    for name, seconds in delays.items():
        if seconds is not None and not (isinstance(seconds, int | float) and not isinstance(seconds, bool)
                                        and 60 <= seconds <= MAX_RETRY_DELAY):
            return _("%(outcome)s: a delay is seconds between 60 and %(max)s, or null for no retry.") % {
                "outcome": name, "max": MAX_RETRY_DELAY}
    return ""


def _fields_problem(rule: str, fields: object, schema_path: str) -> str:
    if not isinstance(fields, list) or not all(isinstance(name, str) for name in fields):
        return _("Required fields must be a list of field names.")
    if rule == "extracted" and not fields:
        return _("Name the extracted fields that make a success (or choose the rule 'completed').")
    known = set(extraction_schema_get(schema_path).model_fields)  # the profile's schema, if it has one
    unknown = [name for name in fields if name not in known]
    if unknown:
        return _("Unknown fields %(unknown)s; the extraction has %(known)s.") % {
            "unknown": ", ".join(unknown), "known": ", ".join(sorted(known))}
    return ""
