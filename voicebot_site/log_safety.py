"""What may reach a log line: request values shortened and escaped, and never a secret.

`log_value` is for every value a door logs that came from a request (a webhook's CallSid, a Twilio frame's fields):
whoever sends it must not be able to write a line of their own (newlines, terminal escapes) or fill the disk.
`SecretsRedacted` is a logging filter that settings.LOGGING puts on the handler every log line goes through: it
removes the configured credentials, Authorization headers, Bearer tokens, OpenAI-style keys and passwords in URLs
from each record (message and traceback), whichever library logged it and at whatever level.
"""
import logging
import re

LOGGED_VALUE_MAX_CHARS = 80
REDACTED = "[redacted]"

# Settings whose values are credentials: each is removed wherever it appears in a log line.
SECRET_SETTINGS = ("OPENAI_API_KEY", "TWILIO_AUTH_TOKEN", "HUGGINGFACE_TOKEN", "NGROK_TOKEN", "SECRET_KEY")
# Shorter than this, a configured "secret" is a placeholder whose redaction would garble ordinary words.
SECRET_MIN_CHARS = 8

_PATTERNS = [
    # "Authorization: Bearer sk-…", "'authorization': 'Token …'", "Authorization=Basic …"
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?:(?:bearer|basic|token)\s+)?[^\s'\",;]+"),
     rf"\1{REDACTED}"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {REDACTED}"),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{12,}"), f"sk-{REDACTED}"),
    # scheme://user:password@host (DATABASE_URL, REDIS_URL)
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@"), rf"\1{REDACTED}@"),
]


def log_value(value: object, *, limit: int = LOGGED_VALUE_MAX_CHARS) -> str:
    """`value` fit for a log line: its first `limit` characters, with newlines and other control characters escaped
    (as Python's repr escapes them), and how long it really was when it was cut."""
    text = str(value)
    shown = repr(text[:limit])[1:-1]
    return shown if len(text) <= limit else f"{shown}...[{len(text)} chars]"


def secrets_redact(text: str) -> str:
    """`text` with every configured credential and every credential-shaped token replaced by [redacted]."""
    for secret in _configured_secrets():
        text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _configured_secrets() -> list[str]:
    from django.conf import settings

    if not settings.configured:
        return []
    values = (str(getattr(settings, name, "") or "") for name in SECRET_SETTINGS)
    return [value for value in values if len(value) >= SECRET_MIN_CHARS]


class SecretsRedacted(logging.Filter):
    """Rewrites each record's message and traceback without secrets (see `secrets_redact`); drops nothing."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it itself, with the arguments as they are
            return True
        redacted = secrets_redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            # Formatted here, once, so that the handler's formatter prints the redacted text from its cache.
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = secrets_redact(record.exc_text)
        if record.stack_info:
            record.stack_info = secrets_redact(record.stack_info)
        return True
