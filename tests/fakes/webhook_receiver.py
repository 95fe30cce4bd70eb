"""A webhook receiver on 127.0.0.1, as an integrator would write one: it checks each POST's Voicebot-Signature with
the recipe README's "Webhooks out" documents (the code block itself, read from README.md), refuses a bad or stale
one with 401, and answers the way a test scripts it: a status and body per request, or hanging until released
(a receiver that never answers). Every request is recorded."""
from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_verify() -> Callable[..., bool]:
    """The `verify(secret, header, body, now=None)` of README's "Webhooks out", executed as published."""
    section = README.read_text().split("## Webhooks out", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md#webhooks-out", "exec"), namespace)
    return namespace["verify"]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: tuple[tuple[str, str], ...] = ()
    hang: bool = False  # never answer (until the receiver is closed or released)
    drip: float = 0.0  # seconds between the bytes of the answer, status line and headers included


class WebhookReceiver:
    def __init__(self, secret: str = "") -> None:
        self.secret = secret
        self.received: list[Received] = []
        self.answers: list[Answer] = []  # consumed one per request; then 200
        self.release = threading.Event()
        self._verify = readme_verify()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/voicebot?source=test"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def answer(self, request: Received) -> Answer:
        self.received.append(request)
        if not request.verified:
            return Answer(401, b"bad signature")
        return self.answers.pop(0) if self.answers else Answer()


def closed_port_url() -> str:
    """An address where nothing listens: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


def _handler_for(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            header = self.headers.get("Voicebot-Signature", "")
            verified = bool(receiver.secret) and receiver._verify(receiver.secret, header, body)
            answer = receiver.answer(Received(self.path, dict(self.headers.items()), body, verified))
            if answer.hang:
                receiver.release.wait()
                return
            if answer.drip:
                self._drip(answer)
                return
            self.send_response(answer.status)
            for name, value in answer.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def _drip(self, answer: Answer) -> None:
            raw = (f"HTTP/1.0 {answer.status} OK\r\nContent-Length: {len(answer.body)}\r\n\r\n").encode()
            for byte in raw + answer.body:
                if receiver.release.wait(answer.drip):
                    return
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:
                    return

        def log_message(self, *args: object) -> None:
            pass

    return Handler
