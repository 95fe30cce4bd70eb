"""Failed-login limits, per account and per client address, counted in the database every process shares.

Each failure is one LoginFailure row, so failures seen by several web processes add up exactly (no read, add, write
back). An account, or an address, is locked while it has its limit of failures within LOGIN_FAILURE_WINDOW seconds.
Refused attempts are not counted: the lock lifts when the oldest of those failures leaves the window, whatever an
attacker keeps sending meanwhile. The doors (the admin's login form, the authentication backend, the API's token
check) live in voicebot_site.authentication.
"""
import logging
import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import ngettext

from voicebot_site.log_safety import log_value
from voicebot_site.models import LoginFailure

logger = logging.getLogger(__name__)

USERNAME_MAX_CHARS = LoginFailure._meta.get_field("username").max_length
ADDRESS_MAX_CHARS = LoginFailure._meta.get_field("address").max_length


class LoginLocked(Exception):
    """Too many failed logins for this account or address: refused, without checking the credentials."""

    def __init__(self, retry_after: int):
        super().__init__(f"Too many failed login attempts; retry in {retry_after} s.")
        self.retry_after = retry_after

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.retry_after / 60))
        return ngettext("Too many failed login attempts. Try again in %(minutes)s minute.",
                        "Too many failed login attempts. Try again in %(minutes)s minutes.", minutes) % {
            "minutes": minutes}


def client_address(request: HttpRequest | None) -> str:
    """The address failures are counted against: REMOTE_ADDR, or what our own proxy put in CLIENT_ADDRESS_HEADER.

    A proxy that appends to its header (X-Forwarded-For) puts the address it saw last, so the last entry is taken;
    whatever a client wrote before it is ignored. Without a request (a command, a test's login()) there is none.
    """
    if request is None:
        return ""
    forwarded = request.headers.get(settings.CLIENT_ADDRESS_HEADER, "") if settings.CLIENT_ADDRESS_HEADER else ""
    address = forwarded.rpartition(",")[2].strip() or request.META.get("REMOTE_ADDR", "")
    return address[:ADDRESS_MAX_CHARS]


def login_lock_check(*, username: str, address: str) -> None:
    """Raise LoginLocked when the account or the address has reached its limit of failures in the window.

    Reads only. A blank username or address is not a key (a token has no account; a command has no address).
    """
    now = timezone.now()
    waits = []
    if username:
        account = LoginFailure.objects.filter(username=username[:USERNAME_MAX_CHARS])
        waits.append(_seconds_locked(account, limit=settings.LOGIN_FAILURE_LIMIT, now=now))
    if address:
        by_address = LoginFailure.objects.filter(address=address)
        waits.append(_seconds_locked(by_address, limit=settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS, now=now))
    retry_after = max(waits, default=0)
    if retry_after:
        raise LoginLocked(retry_after)


def login_failure_record(*, username: str, address: str) -> None:
    """Store one failed login, and delete the failures (anyone's) that have left the window.

    Logs a warning when this failure locks the account or the address.
    """
    now = timezone.now()
    LoginFailure.objects.filter(at__lte=now - _window()).delete()
    LoginFailure.objects.create(username=username[:USERNAME_MAX_CHARS], address=address, at=now)
    try:
        login_lock_check(username=username, address=address)
    except LoginLocked as locked:
        logger.warning("login locked for %s s after failed attempts: account=%s address=%s",
                       locked.retry_after, log_value(username or "-"), log_value(address or "-"))


def login_success_record(*, username: str) -> None:
    """Clear the account's count (its failures stay counted against the addresses they came from)."""
    LoginFailure.objects.filter(username=username[:USERNAME_MAX_CHARS]).update(username="")


def _window() -> timedelta:
    return timedelta(seconds=settings.LOGIN_FAILURE_WINDOW)


def _seconds_locked(failures: QuerySet[LoginFailure], *, limit: int, now: datetime) -> int:
    """Seconds until fewer than `limit` of these failures are in the window; 0 if that is already so (or no limit)."""
    if limit <= 0:
        return 0
    window = _window()
    recent = failures.filter(at__gt=now - window).order_by("-at").values_list("at", flat=True)
    oldest_that_locks = next(iter(recent[limit - 1:limit]), None)
    if oldest_that_locks is None:
        return 0
    return max(1, math.ceil((oldest_that_locks + window - now).total_seconds()))
