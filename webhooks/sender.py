"""POST one body to an endpoint and report how it went, never raising: only http/https, no redirects, no proxy,
a timeout on every socket operation and on the whole exchange, and at most RESPONSE_MAX_BYTES of the answer read.

The host is resolved once and checked (webhooks.addresses); the connection goes to that checked IP, with the URL's
host in the Host header and, for https, in SNI and the certificate check. A refused address is `refused` in the
result: the request was never sent."""
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from webhooks.addresses import AddressRefused, IPAddress, host_resolve

RESPONSE_MAX_BYTES = 4096


@dataclass(frozen=True)
class SendResult:
    status: int | None  # the HTTP status, None when no answer came
    body: bytes  # the start of the answer
    error: str  # why it failed ("" when the answer was 2xx)
    duration_ms: int
    refused: bool = False  # the host is an address webhooks may not reach: retrying would not help

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def webhook_post(*, url: str, body: bytes, headers: dict[str, str], timeout: float,
                 allow_private: bool = False) -> SendResult:
    started = time.monotonic()
    try:
        status, answer = _post(url=url, body=body, headers=headers, timeout=timeout, allow_private=allow_private)
    except AddressRefused as exc:
        return SendResult(None, b"", f"refused: {exc}"[:300], _ms_since(started), refused=True)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return SendResult(None, b"", _describe(exc), _ms_since(started))
    error = "" if 200 <= status < 300 else f"HTTP {status}"
    return SendResult(status, answer, error, _ms_since(started))


def _post(*, url: str, body: bytes, headers: dict[str, str], timeout: float,
          allow_private: bool) -> tuple[int, bytes]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {parts.scheme or 'no scheme'}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = host_resolve(parts.hostname, port, allow_private=allow_private)
    connection = _connection(parts.scheme, parts.hostname, port, timeout, addresses)
    # The socket timeout bounds each read; this bounds the whole exchange (a receiver dripping a byte at a time).
    cut = threading.Event()
    watchdog = threading.Timer(timeout, _cut, args=(connection, cut))
    watchdog.daemon = True
    watchdog.start()
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        status, answer = response.status, response.read(RESPONSE_MAX_BYTES)
    except (OSError, http.client.HTTPException) as exc:
        if cut.is_set():
            raise TimeoutError("the receiver did not answer within the timeout") from exc
        raise
    finally:
        watchdog.cancel()
        connection.close()
    if cut.is_set():  # what was read may be a truncated answer that only looks whole
        raise TimeoutError("the receiver did not answer within the timeout")
    return status, answer


def _connection(scheme: str, host: str, port: int, timeout: float,
                addresses: list[IPAddress]) -> http.client.HTTPConnection:
    if scheme == "https":
        connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    # http.client opens its socket through this hook (host and port as given): ours dials the checked addresses
    # instead of resolving the name again. Host header, SNI and certificate check keep using `host`.
    connection._create_connection = lambda _address, timeout, source: _dial(addresses, port, timeout, source)
    return connection


def _dial(addresses: list[IPAddress], port: int, timeout: float, source: tuple | None) -> socket.socket:
    """A socket connected to the first of the checked addresses that answers (as socket.create_connection would)."""
    error: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((str(address), port), timeout, source)
        except OSError as exc:
            error = exc
    raise error or OSError("no address to connect to")


def _cut(connection: http.client.HTTPConnection, cut: threading.Event) -> None:
    """Wake a read blocked on the connection: it then ends early, and the attempt counts as timed out."""
    cut.set()
    if connection.sock is not None:
        try:
            connection.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _describe(exc: Exception) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc}"[:300]


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
