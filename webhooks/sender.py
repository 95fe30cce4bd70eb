"""POST one body to an endpoint and report how it went, never raising: only http/https, no redirects, no proxy,
a timeout on every socket operation and on the whole exchange, and at most RESPONSE_MAX_BYTES of the answer read."""
import http.client
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

RESPONSE_MAX_BYTES = 4096


@dataclass(frozen=True)
class SendResult:
    status: int | None  # the HTTP status, None when no answer came
    body: bytes  # the start of the answer
    error: str  # why it failed ("" when the answer was 2xx)
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def webhook_post(*, url: str, body: bytes, headers: dict[str, str], timeout: float) -> SendResult:
    started = time.monotonic()
    try:
        status, answer = _post(url=url, body=body, headers=headers, timeout=timeout, deadline=started + timeout)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return SendResult(None, b"", _describe(exc), _ms_since(started))
    error = "" if 200 <= status < 300 else f"HTTP {status}"
    return SendResult(status, answer, error, _ms_since(started))


def _post(*, url: str, body: bytes, headers: dict[str, str], timeout: float, deadline: float) -> tuple[int, bytes]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {parts.scheme or 'no scheme'}")
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout,
                                                 context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, _read_bounded(response, deadline)
    finally:
        connection.close()


def _read_bounded(response: http.client.HTTPResponse, deadline: float) -> bytes:
    """The start of the answer: a receiver that drips bytes cannot hold the worker past the deadline."""
    answer = b""
    while len(answer) < RESPONSE_MAX_BYTES and time.monotonic() < deadline:
        chunk = response.read1(RESPONSE_MAX_BYTES - len(answer))
        if not chunk:
            break
        answer += chunk
    return answer


def _describe(exc: Exception) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc}"[:300]


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
