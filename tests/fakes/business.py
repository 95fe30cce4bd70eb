"""A fake business endpoint for HTTP tools (calls.http_tools): a real aiohttp server on 127.0.0.1.

    async with FakeBusiness(secret="s3cret", answer={"free": ["martes 10:00"]}, delay_s=2) as business:
        business.url("/availability") ... business.requests

Like a careful receiver it checks every request with README's own verification recipe (the Python block after
"Check it before trusting the body", executed as written): a request that is not signed right is answered 401 and
kept in `refused`. Scripted: `status`, `answer` (JSON) or `raw` (bytes), and `delay_s` before answering;
`answering` is set when the answer is about to go out (tests read the state of the call at that moment).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from aiohttp import web

README = Path(__file__).resolve().parent.parent.parent / "README.md"


def readme_recipe() -> Callable[[str, str, str, bytes], bool]:
    """README's `voicebot_request_is_valid`, from its text: the test fails if the documented recipe does."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"Check it before trusting the body:\n```python\n(.*?)```", text, re.S)
    assert block, "README documents how to verify an HTTP tool's signature"
    namespace: dict[str, Any] = {}
    exec(block[1], namespace)  # noqa: S102 (our own README)
    return namespace["voicebot_request_is_valid"]


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeBusiness:
    secret: str
    answer: Any = field(default_factory=lambda: {"ok": True})
    raw: bytes | None = None
    status: int = 200
    delay_s: float = 0.0
    requests: list[Received] = field(default_factory=list)
    refused: list[Received] = field(default_factory=list)
    on_answer: Callable[[], None] | None = None  # runs just before the answer goes out

    async def __aenter__(self) -> FakeBusiness:
        self._valid = readme_recipe()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.received, self._closing = asyncio.Event(), asyncio.Event()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()  # a delayed answer nobody waits for any more goes at once
        await self._runner.cleanup()

    def url(self, path: str = "/tool") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        received = Received(request.method, request.path, dict(request.headers), await request.read())
        timestamp = request.headers.get("X-Voicebot-Timestamp", "")
        signature = request.headers.get("X-Voicebot-Signature", "")
        if not (timestamp.isdigit() and self._valid(self.secret, timestamp, signature, received.body)):
            self.refused.append(received)
            return web.json_response({"error": "bad signature"}, status=401)
        self.requests.append(received)
        self.received.set()
        if self.delay_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.delay_s)
        if self.on_answer is not None:
            self.on_answer()
        if self.raw is not None:
            return web.Response(body=self.raw, status=self.status, content_type="application/json")
        return web.json_response(self.answer, status=self.status)
