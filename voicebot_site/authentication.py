"""The login doors' guards: every password check and every API token goes through the failed-login limits.

- `LoginLimitedBackend` (AUTHENTICATION_BACKENDS) checks each username and password: the admin's login form and
  anything else that calls django.contrib.auth.authenticate(). A locked account or address is refused before the
  password is checked; a failure is counted; a success clears the account's count.
- `LoginLimitedAuthenticationForm` is the admin's login form: it says that the login is locked, and for how long,
  where the backend alone could only answer "wrong password".
- `LoginLimitedTokenAuthentication` (the API): a wrong token counts against the client's address, and a locked
  address gets 429 with Retry-After, valid token or not.
- `AnonymousRequestsThrottled`, last of the API's authentication classes, applies the anonymous rate
  (API_THROTTLE_ANON) to requests that carried no credentials. DRF checks permissions before throttles, and every
  route needs staff, so the anon throttle in DEFAULT_THROTTLE_CLASSES never sees such a request: authentication
  runs before both.
"""
from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.throttling import AnonRateThrottle

from voicebot_site.login_limits import (
    LoginLocked, client_address, login_failure_record, login_lock_check, login_success_record,
)


class LoginLimitedBackend(ModelBackend):
    """Django's username and password check, behind the failed-login limits."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        username = username if username is not None else kwargs.get(self._username_field(), "")
        address = client_address(request)
        try:
            login_lock_check(username=username or "", address=address)
        except LoginLocked as locked:
            # django.contrib.auth.authenticate() stops at PermissionDenied: no other backend gets to try.
            raise PermissionDenied(locked.message) from locked
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_failure_record(username=username or "", address=address)
        else:
            login_success_record(username=username or "")
        return user

    @staticmethod
    def _username_field() -> str:
        from django.contrib.auth import get_user_model

        return get_user_model().USERNAME_FIELD


class LoginLimitedAuthenticationForm(AdminAuthenticationForm):
    """The admin's login form, which tells a locked-out user so, and how long to wait."""

    def clean(self):
        try:
            login_lock_check(username=self.cleaned_data.get("username") or "", address=client_address(self.request))
        except LoginLocked as locked:
            raise forms.ValidationError(locked.message, code="locked") from locked
        return super().clean()


class LoginLimitedTokenAuthentication(TokenAuthentication):
    """DRF's token check, behind the client address's failed-login limit."""

    def authenticate(self, request):
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != self.keyword.lower().encode():
            return None  # no token: another class (or none) authenticates this request
        address = client_address(request)
        try:
            login_lock_check(username="", address=address)
        except LoginLocked as locked:
            raise Throttled(wait=locked.retry_after, detail=locked.message) from locked
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            login_failure_record(username="", address=address)
            raise


class UnauthenticatedRateThrottle(AnonRateThrottle):
    """The anon rate, by client address, with a history of its own: the view's AnonRateThrottle (on a route open
    to anonymous requests, if one is ever added) keeps counting in its own, so no request is counted twice."""

    cache_format = "throttle_unauthenticated_%(ident)s"

    def get_cache_key(self, request, view):
        # Not AnonRateThrottle's: it reads request.user, which is what is being worked out when this runs.
        return self.cache_format % {"ident": client_address(request)}


class AnonymousRequestsThrottled(BaseAuthentication):
    """Authenticates no one: reached only when no other class did, it refuses with 429 past the anonymous rate."""

    def authenticate(self, request):
        throttle = UnauthenticatedRateThrottle()
        if not throttle.allow_request(request, view=None):
            raise Throttled(wait=throttle.wait())
        return None


class AnonymousRequestsThrottledScheme(OpenApiAuthenticationExtension):
    """For the OpenAPI schema: `AnonymousRequestsThrottled` is no way to authenticate, so it adds no scheme."""

    target_class = AnonymousRequestsThrottled
    name = []

    def get_security_requirement(self, auto_schema):
        return None

    def get_security_definition(self, auto_schema):
        return []
