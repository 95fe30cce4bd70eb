"""`/recordings/<name>`: a call's recording, to staff who may hear it, with HTTP Range so the admin's player can seek.

Only names stored on a `Call` are served, looked up exactly in the database, so a crafted path cannot reach any
other file; the storage's own `path()` check is a second guard. Authentication and the permission check are DRF's
(session or token), the same as every other API route: listening in the admin's player, downloading otherwise.
"""
import mimetypes
import re
from typing import BinaryIO

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import SuspiciousFileOperation
from django.urls import reverse
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from calls.models import Call

UPLOAD_PREFIX = "recordings/"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# Python refuses to parse integers of thousands of digits (ValueError); no file is anywhere near this big anyway.
_BEYOND_ANY_FILE = 10**18


class RecordingApi(APIView):
    def get_required_permissions(self, request: Request) -> tuple[str, ...] | None:
        if request.method not in ("GET", "HEAD"):
            return None
        # The call page's player fetches with `Sec-Fetch-Dest: audio` (set by the browser, not by page scripts):
        # hearing a call. Any other fetch (the Download link, a script with a token) keeps a copy of the voice.
        if request.headers.get("Sec-Fetch-Dest") == "audio":
            return ("calls.listen_recording",)
        return ("calls.listen_recording", "calls.download_recording")

    def permission_denied(self, request: Request, message: str | None = None, code: str | None = None) -> None:
        # A person who opens a recording link logged out belongs on the login page, not on an API error page;
        # scripts (token, JSON) still get the API's 401/403.
        if not request.user.is_authenticated and "text/html" in request.headers.get("Accept", ""):
            raise _LoginRedirect(redirect_to_login(request.get_full_path(), reverse("admin:login")))
        super().permission_denied(request, message=message, code=code)

    def handle_exception(self, exc: Exception) -> HttpResponse:
        if isinstance(exc, _LoginRedirect):
            return exc.response
        return super().handle_exception(exc)

    @extend_schema(responses={(200, "audio/wav"): OpenApiTypes.BINARY, (206, "audio/wav"): OpenApiTypes.BINARY})
    def get(self, request: Request, name: str) -> HttpResponse:
        path = recording_path(name)
        try:
            with open(path, "rb") as audio:
                response = _audio_response(audio, request.headers.get("Range", ""))
        except FileNotFoundError:
            raise Http404("Recording not found.") from None  # the row outlived its file
        response["Content-Type"] = mimetypes.guess_type(path)[0] or "application/octet-stream"
        response["Accept-Ranges"] = "bytes"
        response["Cache-Control"] = "private, no-store"
        response["Content-Disposition"] = "inline"
        return response


class _LoginRedirect(Exception):
    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def recording_url_name(call: Call) -> str | None:
    """The `<name>` of `/recordings/<name>` for this call, or None when it has no playable recording."""
    if not call.recording or call.recording_deleted_at:
        return None
    return call.recording.name.removeprefix(UPLOAD_PREFIX)


def recording_path(name: str) -> str:
    """The file behind `/recordings/<name>`; Http404 unless it is a live recording of some call."""
    if not name or ".." in name.split("/") or "\\" in name:
        raise Http404("Recording not found.")
    # Accept both `/recordings/2026/11/CA….wav` and the record's `audio_file_name` appended to `/recordings/`.
    stored = name if name.startswith(UPLOAD_PREFIX) else UPLOAD_PREFIX + name
    call = Call.objects.filter(recording=stored, recording_deleted_at__isnull=True).first()
    if call is None:
        raise Http404("Recording not found.")
    try:
        return call.recording.path
    except SuspiciousFileOperation:
        raise Http404("Recording not found.") from None


class RangeNotSatisfiable(Exception):
    """The asked range starts past the end of the file (HTTP 416)."""


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The single `bytes=` range asked for, clipped to the file, or None to send the whole file."""
    match = _RANGE.match(header.strip())
    if not match or not any(match.groups()):
        return None  # no Range, several ranges or another unit: a full 200 is always a valid answer
    first, last = (_position(digits) if digits else None for digits in match.groups())
    if first is not None and last is not None and last < first:
        return None  # an invalid range is ignored (RFC 9110 14.2), not refused
    if first is None:
        start, end = max(size - last, 0), size - 1  # `bytes=-500`: the last 500 bytes
    else:
        start, end = first, min(last, size - 1) if last is not None else size - 1
    if start >= size or start > end:
        raise RangeNotSatisfiable(header)
    return start, end


def _position(digits: str) -> int:
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) < 18 else _BEYOND_ANY_FILE


def _audio_response(audio: BinaryIO, range_header: str) -> HttpResponse:
    """The whole file (200), the asked range (206), or 416."""
    size = audio.seek(0, 2)
    try:
        span = byte_range(range_header, size)
    except RangeNotSatisfiable:
        return _unsatisfiable(size)
    start, end = span or (0, size - 1)
    audio.seek(start)
    # Read into memory: under ASGI Django buffers a sync file iterator anyway, and recordings are bounded by
    # CALL_DURATION_LIMIT (a few MB).
    response = HttpResponse(audio.read(end - start + 1), status=206 if span else 200)
    if span:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response


def _unsatisfiable(size: int) -> HttpResponse:
    response = HttpResponse(status=416)
    response["Content-Range"] = f"bytes */{size}"
    return response
