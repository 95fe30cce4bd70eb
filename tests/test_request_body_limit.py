"""Request bodies over MAX_REQUEST_BODY_BYTES get 413 as they arrive: through the ASGI application, and from a real
Daphne, which otherwise reads a whole body (and queues it in memory) before the application sees the request."""
import asyncio
import select
import socket
import time
from pathlib import Path

import pytest

from tests.processes import Stack
from voicebot_site.asgi import application

LIMIT = 1024 * 1024


async def _asgi_post(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, int]:
    """POST through voicebot's ASGI application; returns the status and how many body messages it took."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/api/users/import", "raw_path": b"/api/users/import", "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver"), *headers], "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    messages = [{"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
                for index, chunk in enumerate(chunks)]
    asked, sent = 0, []

    async def receive():
        nonlocal asked
        if not messages:
            await asyncio.Event().wait()  # the client stays connected until the answer (Django listens for it)
        asked += 1
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    await application(scope, receive, send)
    return sent[0]["status"], asked


@pytest.fixture
def small_limit(settings):
    settings.MAX_REQUEST_BODY_BYTES = LIMIT


@pytest.mark.django_db(transaction=True)
async def test_a_declared_length_over_the_limit_is_refused_unread(small_limit):
    status, asked = await _asgi_post([(b"content-length", str(LIMIT + 1).encode())], [b"x" * (LIMIT + 1)])
    assert (status, asked) == (413, 0)


@pytest.mark.django_db(transaction=True)
async def test_a_chunked_body_is_refused_once_it_passes_the_limit(small_limit):
    chunks = [b"x" * 65536] * 64  # 4 MB in 64 KB messages, no Content-Length
    status, asked = await _asgi_post([(b"content-type", b"text/csv")], chunks)
    assert status == 413
    assert asked == LIMIT // 65536 + 1  # nothing read past the message that crossed the limit


@pytest.mark.django_db(transaction=True)
async def test_a_body_within_the_limit_reaches_the_application(small_limit):
    status, asked = await _asgi_post([(b"content-length", b"10")], [b"600123456\n"])
    assert status in (401, 403)  # the API's own answer to an anonymous import
    assert asked == 1


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def daphne(tmp_path):
    stack = Stack(tmp=tmp_path, extra_env={"MAX_REQUEST_BODY_BYTES": str(LIMIT)})
    port = stack.start_daphne()
    yield port, stack.processes[0].pid
    stack.stop_all()


def _send_until_answered(sock: socket.socket, chunk: bytes, *, total: int) -> tuple[bytes, int]:
    """Stream `total` bytes of `chunk`s, watching for an answer between chunks; returns it and the bytes sent."""
    sent = 0
    while sent < total:
        if select.select([sock], [], [], 0)[0]:
            break
        try:
            sock.sendall(chunk)
        except OSError:
            break
        sent += len(chunk)
    sock.settimeout(10)
    return sock.recv(65536), sent


@pytest.mark.slow
def test_daphne_answers_a_huge_chunked_body_413_before_it_is_sent(daphne):
    port, pid = daphne
    memory_before = _rss_bytes(pid)
    body_size = 128 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /api/users/import HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        answer, sent = _send_until_answered(sock, b"10000\r\n" + b"6" * 65536 + b"\r\n", total=body_size)

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"larger than the 1 MB this server accepts" in answer
    assert sent < body_size // 4  # answered long before the client finished sending
    assert _rss_bytes(pid) - memory_before < 16 * 1024 * 1024


@pytest.mark.slow
def test_daphne_refuses_a_declared_length_before_a_byte_of_body(daphne):
    port, _ = daphne
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /api/users/import HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10737418240\r\n\r\n")
        started = time.monotonic()
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert time.monotonic() - started < 5


@pytest.mark.slow
def test_daphne_still_serves_requests_within_the_limit(daphne):
    port, _ = daphne
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /api/users/import HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n"
                     b"Connection: close\r\n\r\n600123456\n")
        answer = sock.recv(65536)
    assert answer.split(b"\r\n", 1)[0] in (b"HTTP/1.1 401 Unauthorized", b"HTTP/1.1 403 Forbidden")
