"""Tools that call the business's own HTTP endpoint during a live call (`http:` of a tool in AI/tools/tools.yaml).

    - name: check_availability
      http: {url: "https://crm.example.com/voicebot/availability", method: POST, timeout: 4,
             headers: {Authorization: "env:CRM_TOKEN"}}

Header values name environment variables (`env:NAME`), never secrets in the YAML; a variable that is not set fails
validation when the file is loaded. The request body is JSON: `{"tool", "arguments", "call": {"sid",
"contact_id", "phone", "campaign_id"}}`, signed with HMAC-SHA256 over `<timestamp>.<body>` with the
TOOLS_SIGNING_SECRET (headers `X-Voicebot-Timestamp` and `X-Voicebot-Signature: sha256=<hex>`; README has the
receiver's recipe). The answer, a JSON body of at most MAX_RESPONSE_BYTES, goes back to the model as it is (an
object) or as {"result": value}; anything else (an HTTP error, a body that is not JSON or too big, a refused
connection, a timeout) becomes {"error": "..."} the model can read out. Redirects are not followed. No Django here:
the consumer passes the secret and the call's context.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from decouple import config as environment
from pydantic import BaseModel, ConfigDict, Field, field_validator

from calls.live.relay.calllog import CallLogger
from calls.live.relay.tool_calls import TOOL_TIMEOUT_S

log = logging.getLogger(__name__)

ENV_PREFIX = "env:"
SIGNATURE_HEADER = "X-Voicebot-Signature"
TIMESTAMP_HEADER = "X-Voicebot-Timestamp"
MAX_RESPONSE_BYTES = 16_384  # the model reads the answer: a page of text is plenty, and a runaway body is cut off
MAX_TIMEOUT_S = 20.0


class HttpEndpoint(BaseModel):
    """Where a tool's calls go: `http:` of a tool in tools.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    url: str
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(5.0, gt=0, le=MAX_TIMEOUT_S)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @field_validator("headers")
    @classmethod
    def _headers_from_environment(cls, value: dict[str, str]) -> dict[str, str]:
        for name, source in value.items():
            if not source.startswith(ENV_PREFIX) or not source[len(ENV_PREFIX):]:
                raise ValueError(f"header {name}: the value must be env:NAME (an environment variable), "
                                 "never the secret itself")
            if not environment(source[len(ENV_PREFIX):], default=""):
                raise ValueError(f"header {name}: environment variable {source[len(ENV_PREFIX):]} is not set")
        return value

    def header_values(self) -> dict[str, str]:
        """The headers with their values read from the environment now (never kept on the object: no secret in a
        repr or a log line)."""
        return {name: environment(source[len(ENV_PREFIX):], default="") for name, source in self.headers.items()}


def tools_timeout_s(endpoints: Iterable[HttpEndpoint]) -> float:
    """The relay's bound on any tool of a call: a second past the slowest endpoint's own timeout, so that the
    endpoint's readable timeout is what the model hears."""
    return max([TOOL_TIMEOUT_S, *(endpoint.timeout + 1 for endpoint in endpoints)])


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256 of `<timestamp>.<body>` with `secret`: what the receiver recomputes."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


async def http_tool_call(endpoint: HttpEndpoint, *, name: str, arguments: dict[str, Any], context: dict[str, Any],
                         secret: str, call_sid: str = "-") -> dict[str, Any]:
    """Call tool `name` at its endpoint; returns the model's answer, {"error": ...} when there is none."""
    logger = CallLogger(log, call_sid)
    if not secret:
        logger.error("tool %s not sent: TOOLS_SIGNING_SECRET is not set", name)
        return {"error": f"{name} is not available right now (it is not configured)."}
    body = json.dumps({"tool": name, "arguments": arguments, "call": context}, ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    headers = {**endpoint.header_values(), "Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
               SIGNATURE_HEADER: signature(secret, timestamp, body)}
    try:
        async with asyncio.timeout(endpoint.timeout):
            status, raw = await _request(endpoint, body, headers)
    except TimeoutError:
        logger.warning("tool %s: no answer within %g s", name, endpoint.timeout)
        return {"error": f"{name} did not answer within {endpoint.timeout:g} s; it may not have been done."}
    except _TooBig:
        logger.warning("tool %s: answer over %d bytes", name, MAX_RESPONSE_BYTES)
        return {"error": f"{name} answered more than {MAX_RESPONSE_BYTES} bytes; the answer was dropped."}
    except aiohttp.ClientError as exc:
        logger.warning("tool %s: could not reach the service (%s)", name, type(exc).__name__)
        return {"error": f"{name} could not reach its service; it was not done."}
    return _answer(name, status, raw, logger)


class _TooBig(Exception):
    pass


async def _request(endpoint: HttpEndpoint, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.request(
            endpoint.method, endpoint.url, data=body, headers=headers, allow_redirects=False) as response:
        raw = bytearray()
        async for chunk in response.content.iter_chunked(8192):
            raw += chunk
            if len(raw) > MAX_RESPONSE_BYTES:
                raise _TooBig
        return response.status, bytes(raw)


def _answer(name: str, status: int, raw: bytes, logger: CallLogger) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError:
        value = _NOT_JSON
    if not 200 <= status < 300:
        logger.warning("tool %s: HTTP %d", name, status)
        reason = _explained(value) if 400 <= status < 500 else ""
        said = f" ({reason[:200]})" if reason else ""
        return {"error": f"{name} failed: its service answered HTTP {status}{said}."}
    if value is _NOT_JSON:
        logger.warning("tool %s: the answer is not JSON", name)
        return {"error": f"{name} failed: its service answered something that is not JSON."}
    return value if isinstance(value, dict) else {"result": value}


_NOT_JSON = object()


def _explained(value: Any) -> str:
    """The reason a refusal gives ({"error": "..."} or {"detail": "..."}, e.g. with a 422): the model can say it."""
    if not isinstance(value, dict):
        return ""
    return next((value[key] for key in ("error", "detail") if isinstance(value.get(key), str)), "")
