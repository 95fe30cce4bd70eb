"""Twilio REST, TwiML and webhook signatures: the only module that imports `twilio`.

Every operation reads its settings when it runs (so `manage.py` starts without credentials), talks to
`TWILIO_API_BASE_URL` (Twilio itself, a Twilio-compatible provider, or the test fake) and turns the SDK's errors into
one domain exception, `TwilioError`, whose message tells staff what to do.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.utils.translation import gettext
from twilio.base import values
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.voice_response import Connect, Dial, Hangup, Number, Say, VoiceResponse

from calls.exceptions import TwilioError, TwilioNotConfigured, TwilioProblem

logger = logging.getLogger(__name__)

STREAM_PATH = "/media-stream"
_REQUIRED = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "PHONE_NUMBER_FROM", "PUBLIC_BASE_URL")

# Twilio error codes staff meet in practice, with what to do about them. (message, permanent)
_ADVICE: dict[int, tuple[str, bool]] = {
    21219: (
        "Twilio refused to call {to}: the number is not verified and this is a trial account. "
        "Verify it in the Twilio console (Phone Numbers > Verified Caller IDs) or upgrade the account.",
        True,
    ),
    21211: (
        "Twilio says {to} is not a valid phone number. The contact is marked 'number rejected by carrier' "
        "and will not be dialled until the number is corrected.",
        True,
    ),
    20003: (
        "Twilio rejected our credentials. Check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN.",
        True,
    ),
    21212: (
        "Twilio refused the caller ID {from_}: check PHONE_NUMBER_FROM is a number of this Twilio account.",
        True,
    ),
    21210: (
        "Twilio refused the caller ID {from_}: check PHONE_NUMBER_FROM is a number of this Twilio account.",
        True,
    ),
}

# The codes the rest of the app asks about, by what they mean (TwilioError.is_invalid_number, ...).
_PROBLEMS: dict[int, TwilioProblem] = {
    21211: TwilioProblem.INVALID_NUMBER,
    20404: TwilioProblem.NOT_FOUND,
    20003: TwilioProblem.AUTH_FAILURE,
    21220: TwilioProblem.CALL_NOT_LIVE,
}


@dataclass(frozen=True)
class TwilioSettings:
    account_sid: str
    auth_token: str
    phone_number_from: str
    public_base_url: str
    api_base_url: str
    http_timeout: float


@dataclass(frozen=True)
class TwilioCallState:
    """What Twilio says about one call."""

    sid: str
    status: str
    duration: float | None = None
    answered_by: str | None = None


def twilio_settings() -> TwilioSettings:
    """Read the Twilio settings, failing with a message that names every missing one.

    Not cached: the values are cheap to read and tests change them per test.
    """
    missing = [name for name in _REQUIRED if not getattr(settings, name, "")]
    if missing:
        raise TwilioNotConfigured(
            gettext("Twilio is not configured: set %(settings)s in the environment (.env) and restart.")
            % {"settings": ", ".join(missing)}
        )
    return TwilioSettings(
        account_sid=settings.TWILIO_ACCOUNT_SID,
        auth_token=settings.TWILIO_AUTH_TOKEN,
        phone_number_from=settings.PHONE_NUMBER_FROM,
        public_base_url=settings.PUBLIC_BASE_URL.rstrip("/"),
        api_base_url=settings.TWILIO_API_BASE_URL.rstrip("/"),
        http_timeout=float(settings.TWILIO_HTTP_TIMEOUT),
    )


def twilio_public_url(path: str) -> str:
    """The absolute URL Twilio uses to reach `path` on this server (what it signs, too)."""
    return twilio_settings().public_base_url + path


def twilio_stream_url(*, call_code: object) -> str:
    """The wss:// URL of one call's media stream as Twilio opens it (and signs it in X-Twilio-Signature).

    The call's code is a path segment (Twilio forbids a query string there) because the handshake signature covers
    the URL alone: with one fixed URL, one signature seen would open a stream for any call, forever.
    """
    scheme, _, rest = twilio_settings().public_base_url.partition("://")
    return ("wss" if scheme == "https" else "ws") + "://" + rest + f"{STREAM_PATH}/{call_code}"


class RedirectingHttpClient(TwilioHttpClient):
    """Sends every Twilio request to `base_url` instead of *.twilio.com, keeping path and query.

    This is how a Twilio-compatible provider, or the test fake, plugs in without patching the SDK.
    """

    def __init__(self, *, base_url: str, timeout: float | None = None) -> None:
        super().__init__(timeout=timeout)
        self.base = urlsplit(base_url)

    def request(self, method: str, url: str, *args, **kwargs) -> Response:  # type: ignore[override]
        parts = urlsplit(url)
        path = self.base.path.rstrip("/") + parts.path
        url = urlunsplit((self.base.scheme, self.base.netloc, path, parts.query, parts.fragment))
        return super().request(method, url, *args, **kwargs)


def twilio_get_client(*, http_client: TwilioHttpClient | None = None) -> Client:
    """A REST client for the configured account, pointed at TWILIO_API_BASE_URL."""
    cfg = twilio_settings()
    http_client = http_client or RedirectingHttpClient(base_url=cfg.api_base_url, timeout=cfg.http_timeout)
    return Client(cfg.account_sid, cfg.auth_token, http_client=http_client)


def twilio_calls_create(
    *,
    to: str,
    from_: str,
    twiml: str,
    status_callback_url: str,
    timeout: int,
    time_limit: int | None,
    machine_detection: str | None,
    amd_callback_url: str | None,
) -> TwilioCallState:
    """Ask Twilio to dial `to`; the call then reports progress to `status_callback_url`."""
    amd = {}
    if machine_detection:
        amd = {
            "machine_detection": machine_detection,
            "async_amd": "true",
            "async_amd_status_callback": amd_callback_url,
            "async_amd_status_callback_method": "POST",
        }
    with _twilio_errors(to=to, from_=from_):
        call = twilio_get_client().calls.create(
            to=to,
            from_=from_,
            twiml=twiml,
            status_callback=status_callback_url,
            status_callback_event=["initiated", "ringing", "answered", "completed"],
            status_callback_method="POST",
            timeout=timeout,
            time_limit=time_limit if time_limit else values.unset,
            **amd,
        )
    return _state(call)


def twilio_calls_fetch(*, sid: str) -> TwilioCallState:
    """Twilio's current view of the call `sid`."""
    with _twilio_errors():
        return _state(twilio_get_client().calls(sid).fetch())


def twilio_calls_hangup(*, sid: str) -> TwilioCallState:
    """End the call whether it is still ringing or already talking (`Status=completed`)."""
    with _twilio_errors():
        return _state(twilio_get_client().calls(sid).update(status="completed"))


def twilio_calls_say_and_hangup(*, sid: str, text: str, language: str) -> TwilioCallState:
    """Replace the live call's TwiML: say `text`, then hang up (used when the AI fails mid-call)."""
    return twilio_calls_redirect(sid=sid, twiml=twilio_say_twiml(text=text, language=language))


def twilio_calls_redirect(*, sid: str, twiml: str) -> TwilioCallState:
    """Replace the live call's TwiML with `twiml` (its media stream, if any, ends)."""
    with _twilio_errors():
        return _state(twilio_get_client().calls(sid).update(twiml=twiml))


def twilio_say_twiml(*, text: str, language: str, hang_up: bool = True) -> str:
    """TwiML: say `text` in Twilio's voice (if any), then hang up (unless not `hang_up`)."""
    response = VoiceResponse()
    if text:
        response.append(Say(text, language=language))
    if hang_up:
        response.append(Hangup())
    return str(response)


def twilio_dial_twiml(*, number: str, caller_id: str, timeout: int, action_url: str, whisper_url: str = "") -> str:
    """TwiML moving the call to `number`: it rings `timeout` s; Twilio then POSTs the outcome (DialCallStatus) to
    `action_url` and plays the TwiML it answers. `whisper_url`: TwiML played to the person who picks up, first."""
    response = VoiceResponse()
    dial = Dial(timeout=timeout, action=action_url, method="POST", caller_id=caller_id)
    dial.append(Number(number, url=whisper_url, method="POST") if whisper_url else Number(number))
    response.append(dial)
    return str(response)


def twilio_request_is_valid(*, url: str, params: object, signature: str) -> bool:
    """True when `signature` is Twilio's HMAC of `url` + `params` with our auth token."""
    if not signature:
        return False
    return RequestValidator(twilio_settings().auth_token).validate(url, params, signature)


def twilio_stream_twiml(*, stream_url: str, token: str) -> str:
    """TwiML connecting the call's audio to our websocket; the token travels as a <Parameter>."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    stream.parameter(name="token", value=token)
    response.append(connect)
    return str(response)


def _state(call: object) -> TwilioCallState:
    duration = getattr(call, "duration", None)
    return TwilioCallState(
        sid=call.sid,
        status=str(call.status),
        duration=float(duration) if duration not in (None, "") else None,
        answered_by=getattr(call, "answered_by", None) or None,
    )


@contextmanager
def _twilio_errors(*, to: str = "", from_: str = "") -> Iterator[None]:
    """Turn SDK and network errors into TwilioError, the one exception callers handle."""
    try:
        yield
    except (TwilioRestException, TwilioServiceException) as exc:
        raise _from_rest_exception(exc, to=to, from_=from_) from exc
    except requests.Timeout as exc:
        raise TwilioError("Twilio did not answer in time; try again.", permanent=False) from exc
    except requests.RequestException as exc:
        raise TwilioError(f"Could not reach Twilio ({type(exc).__name__}); try again.", permanent=False) from exc
    except TwilioException as exc:
        raise TwilioError(f"Twilio error: {exc}", permanent=False) from exc


def _from_rest_exception(exc: TwilioRestException | TwilioServiceException, *, to: str, from_: str) -> TwilioError:
    code = exc.code if isinstance(exc.code, int) else None
    detail = getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", "")
    if code in _ADVICE:
        template, permanent = _ADVICE[code]
        message = template.format(to=to or "the number", from_=from_ or "PHONE_NUMBER_FROM")
    else:
        permanent = 400 <= exc.status < 500 and exc.status != 429
        message = f"Twilio refused the request (HTTP {exc.status}, code {code}): {detail}"
        if not permanent:
            message = f"Twilio is unavailable (HTTP {exc.status}): {detail}. Try again later."
    logger.warning("Twilio error status=%s code=%s uri=%s", exc.status, code, exc.uri)
    problem = _PROBLEMS.get(code, TwilioProblem.OTHER)
    return TwilioError(message, code=code, permanent=permanent, status=exc.status, problem=problem)
