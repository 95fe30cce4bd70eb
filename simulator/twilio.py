"""A fake Twilio Voice REST API on a real local socket, and Twilio's signed webhooks back to us.

It checks what Twilio checks (basic auth, the account in the path, required fields, E.164 `To`, trial-account
verified numbers, callback event names) and what our TwiML must say (a `<Connect><Stream>` to our
`/media-stream/<call code>` with a `token` parameter). `stream_handshake` gives the URL the TwiML named, with the
signature Twilio computes over it; `delay_updates_s` makes updates of a live call (hang-up, say) answer slowly.
Webhooks are built and signed exactly as Twilio signs them (HMAC-SHA1 of the PUBLIC_BASE_URL-based URL plus the
sorted form params); the test chooses how to deliver them (Django test client, async client, or real HTTP to a live
server).

    with FakeTwilio() as fake:
        settings.TWILIO_API_BASE_URL = fake.base_url
        ...
        fake.status_callback(sid, "ringing").post(client)
"""
from __future__ import annotations

import base64
import http.client
import json
import re
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from twilio.request_validator import RequestValidator

from simulator.twiml import DialRequest, TwimlRefused, dial_of, twiml_check

ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
CALLBACK_EVENTS = {"initiated", "ringing", "answered", "completed"}
AMD_MODES = {"Enable", "DetectMessageEnd"}
FINAL = {"completed", "busy", "no-answer", "canceled", "failed"}
_STREAM_PATH = re.compile(r"^/media-stream/[0-9a-f-]{36}$")  # our per-call stream URL: /media-stream/<call code>
_CALL_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Calls(?:/(?P<sid>[^/]+))?\.json$")


@dataclass
class ReceivedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    form: dict[str, list[str]]
    auth: tuple[str, str] | None
    status: int = 0

    def one(self, name: str) -> str | None:
        values = self.form.get(name)
        return values[0] if values else None


@dataclass
class FakeCall:
    """What the fake knows about a call it accepted."""

    sid: str
    to: str
    from_: str
    form: dict[str, list[str]]
    twiml: str
    stream_url: str
    token: str
    status: str = "queued"
    duration: int | None = None
    answered_by: str | None = None
    sequence: int = -1
    twiml_updates: list[str] = field(default_factory=list)
    dial: DialRequest | None = None  # the <Dial> of its last TwiML update (a transfer): its stream ended there
    hung_up: bool = False
    ended_at: float | None = None  # time.monotonic() when voicebot ended it (REST hang-up or <Hangup/>)
    on_end: Callable[[], None] | None = None  # called (under the fake's lock, from its thread) when it ends

    @property
    def status_callback_url(self) -> str:
        return self.form["StatusCallback"][0]

    @property
    def amd_callback_url(self) -> str | None:
        return (self.form.get("AsyncAmdStatusCallback") or [None])[0]

    def resource(self, account_sid: str) -> dict:
        now = datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000")
        return {
            "sid": self.sid, "account_sid": account_sid, "to": self.to, "from": self.from_,
            "status": self.status, "direction": "outbound-api", "date_created": now, "date_updated": now,
            "duration": str(self.duration) if self.duration is not None else None,
            "answered_by": self.answered_by, "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{account_sid}/Calls/{self.sid}.json",
        }


@dataclass
class SignedWebhook:
    """A webhook as Twilio would send it: URL it signed, form params, X-Twilio-Signature."""

    url: str
    params: dict[str, str]
    signature: str

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def body(self) -> str:
        return urlencode(self.params)

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Twilio-Signature": self.signature}

    def post(self, client):
        """Deliver through Django's (or DRF's) sync test client."""
        return client.post(self.path, self.body, content_type="application/x-www-form-urlencoded",
                           HTTP_X_TWILIO_SIGNATURE=self.signature)

    async def apost(self, async_client):
        """Deliver through Django's AsyncClient."""
        return await async_client.post(self.path, self.body, content_type="application/x-www-form-urlencoded",
                                       headers=self.headers)

    def post_on(self, connection: http.client.HTTPConnection) -> int:
        """Deliver over an open keep-alive connection (one a chosen server process accepted); its status code."""
        connection.request("POST", self.path, body=self.body,
                           headers={**self.headers, "Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        response.read()  # the connection stays usable for the next one
        return response.status

    def post_http(self, server_url: str) -> requests.Response:
        """Deliver over real HTTP to a live server at `server_url` (the signature still covers `url`)."""
        return requests.post(server_url.rstrip("/") + self.path, data=self.params, headers=self.headers, timeout=10)


class FakeTwilio:
    """The fake server. Thread-safe; start/stop it or use it as a context manager."""

    def __init__(
        self,
        *,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        public_base_url: str = "https://voicebot.example",
        unverified: set[str] | None = None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.public_base_url = public_base_url.rstrip("/")
        self.unverified = set(unverified or ())
        self.requests: list[ReceivedRequest] = []
        self.calls: dict[str, FakeCall] = {}
        self.fail_next: tuple[int, int, str] | None = None
        self.delay_updates_s = 0.0  # a slow Twilio: seconds before answering a live call's update (POST .../CA....json)
        # Status callbacks the next dial sends before answering, and how they reach us (see send_before_answering).
        self.early_callbacks: tuple[list[str], Callable[[SignedWebhook], object]] | None = None
        self.early_results: list[object] = []
        self.lock = threading.Lock()
        self.created = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle ---
    def start(self) -> FakeTwilio:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def voicebot_env(self) -> dict[str, str]:
        """The environment that points a voicebot process at this fake (credentials, number, REST base, address)."""
        return {
            "TWILIO_ACCOUNT_SID": self.account_sid, "TWILIO_AUTH_TOKEN": self.auth_token,
            "PHONE_NUMBER_FROM": "+15005550006", "TWILIO_API_BASE_URL": self.base_url,
            "PUBLIC_BASE_URL": self.public_base_url,
        }

    # --- inspection ---
    @property
    def last_call(self) -> FakeCall:
        with self.lock:
            return list(self.calls.values())[-1]

    def requests_to(self, method: str, suffix: str = "") -> list[ReceivedRequest]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path.endswith(suffix)]

    def set_state(self, sid: str, *, status: str, duration: int | None = None, answered_by: str | None = None) -> None:
        """Change what GET returns (e.g. a call whose callbacks were lost)."""
        with self.lock:
            call = self.calls[sid]
            call.status, call.duration = status, duration
            call.answered_by = answered_by or call.answered_by

    def stream_handshake(self, sid: str) -> tuple[str, dict[str, str], dict[str, str]]:
        """(url, headers, customParameters) for opening our media stream as Twilio would for call `sid`.

        The upgrade carries X-Twilio-Signature over the wss:// URL with no params, and no Origin header.
        """
        with self.lock:
            call = self.calls[sid]
        signature = RequestValidator(self.auth_token).compute_signature(call.stream_url, {})
        return call.stream_url, {"X-Twilio-Signature": signature}, {"token": call.token}

    def send_before_answering(self, statuses: list[str], deliver: Callable[[SignedWebhook], object]) -> None:
        """Make the next dial deliver these status callbacks (e.g. a fast `failed`) before answering 201.

        Real Twilio can: its callbacks and its answer to the dial request race. `deliver` sends each signed
        webhook (test client, real HTTP); what it returns is kept in `early_results`.
        """
        self.early_callbacks = (list(statuses), deliver)

    # --- webhooks Twilio would send ---
    def sign(self, url: str, params: dict[str, str]) -> SignedWebhook:
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        return SignedWebhook(url=url, params=params, signature=signature)

    def status_callback(
        self,
        sid: str,
        status: str,
        *,
        sequence_number: int | None = None,
        duration: int | None = None,
        answered_by: str | None = None,
    ) -> SignedWebhook:
        """The status callback for `status`, numbered in sending order unless `sequence_number` is given."""
        with self.lock:
            call = self.calls[sid]
            if sequence_number is None:
                call.sequence += 1
                sequence_number = call.sequence
            call.status = status
            if duration is not None:
                call.duration = duration
            params = {
                "CallSid": sid, "AccountSid": self.account_sid, "From": call.from_, "To": call.to,
                "Direction": "outbound-api", "ApiVersion": "2010-04-01", "CallStatus": status,
                "SequenceNumber": str(sequence_number),
                "Timestamp": datetime.now(timezone.utc).strftime("%a, %d %b %Y %H:%M:%S +0000"),
                "CallbackSource": "call-progress-events",
            }
            if duration is not None:
                params["CallDuration"] = str(duration)
                params["Duration"] = str(max(1, (duration + 59) // 60))
            if answered_by:
                params["AnsweredBy"] = answered_by
            url = call.status_callback_url
        return self.sign(url, params)

    def status_callbacks(self, sid: str, statuses: list[str], *, duration: int | None = None) -> list[SignedWebhook]:
        """One callback per status, in Twilio's order; the final one carries `duration`."""
        return [
            self.status_callback(sid, status, duration=duration if status in FINAL else None)
            for status in statuses
        ]

    def amd_callback(self, sid: str, answered_by: str) -> SignedWebhook:
        with self.lock:
            call = self.calls[sid]
            call.answered_by = answered_by
            url = call.amd_callback_url
            assert url, "the call was placed without AsyncAmdStatusCallback"
        params = {"CallSid": sid, "AccountSid": self.account_sid, "AnsweredBy": answered_by,
                  "MachineDetectionDuration": "2100"}
        return self.sign(url, params)

    def dial_outcome(self, sid: str, dial_status: str, *, duration: int | None = None) -> SignedWebhook:
        """Twilio's request to the `<Dial action>` of the call's transfer once the dial ended (DialCallStatus:
        completed, busy, no-answer, failed, canceled)."""
        with self.lock:
            call = self.calls[sid]
            assert call.dial is not None and call.dial.action_url, "the call was not moved to a <Dial action>"
            url = call.dial.action_url
        params = {"CallSid": sid, "AccountSid": self.account_sid, "From": call.from_, "To": call.to,
                  "CallStatus": "in-progress", "Direction": "outbound-api", "DialCallStatus": dial_status,
                  "DialCallSid": "CA" + secrets.token_hex(16), "DialBridged": str(dial_status == "completed").lower()}
        if duration is not None:
            params["DialCallDuration"] = str(duration)
        return self.sign(url, params)

    def whisper_request(self, sid: str) -> SignedWebhook:
        """Twilio's request for the `<Number url>` TwiML once the dialled person picked up (the child call's)."""
        with self.lock:
            call = self.calls[sid]
            assert call.dial is not None and call.dial.whisper_url, "the <Number> has no url"
            url, number = call.dial.whisper_url, call.dial.number
        params = {"CallSid": "CA" + secrets.token_hex(16), "ParentCallSid": sid, "AccountSid": self.account_sid,
                  "From": call.from_, "To": number, "CallStatus": "in-progress", "Direction": "outbound-dial"}
        return self.sign(url, params)

    # --- REST handling ---
    def handle(self, method: str, path: str, form: dict[str, list[str]], auth: tuple[str, str] | None):
        record = ReceivedRequest(method=method, path=path, form=form, auth=auth)
        with self.lock:
            self.requests.append(record)
        match = _CALL_PATH.match(path)
        if method == "POST" and match and match["sid"] and self.delay_updates_s:
            time.sleep(self.delay_updates_s)  # outside the lock: other requests are served meanwhile
        with self.lock:
            status, body = self._route(method, path, form, auth)
            record.status = status
            early = None
            if status == 201:
                early, self.early_callbacks = self.early_callbacks, None
        if early:
            statuses, deliver = early
            self.early_results += [deliver(self.status_callback(body["sid"], s)) for s in statuses]
        if status == 201:
            self.created.set()
        return status, body

    def _route(self, method, path, form, auth):
        if auth != (self.account_sid, self.auth_token):
            return _error(401, 20003, "Authenticate")
        match = _CALL_PATH.match(path)
        if not match:
            return _error(404, 20404, "The requested resource was not found")
        if match["account"] != self.account_sid:
            return _error(404, 20404, f"The requested resource {path} was not found")
        if self.fail_next:
            (status, code, message), self.fail_next = self.fail_next, None
            return _error(status, code, message)
        sid = match["sid"]
        if sid is None:
            return self._create(form) if method == "POST" else _error(405, 20004, "Method not allowed")
        call = self.calls.get(sid)
        if call is None:
            return _error(404, 20404, f"The requested resource {path} was not found")
        if method == "GET":
            return 200, call.resource(self.account_sid)
        return self._update(call, form)

    def _create(self, form):
        one = {name: values[0] for name, values in form.items()}
        to, from_ = one.get("To"), one.get("From")
        if not to:
            return _error(400, 21201, "No 'To' number is specified")
        if not from_:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not (one.get("Twiml") or one.get("Url")):
            return _error(400, 21205, "Url parameter is required.")
        if not E164.match(to):
            return _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if to in self.unverified:
            return _error(400, 21219, f"The number {to} is unverified. Trial accounts cannot call unverified "
                                      "numbers; verify it at twilio.com/user/account/phone-numbers/verified")
        problem = _check_options(form)
        if problem:
            return _error(400, 21205, problem)
        stream = _parse_stream_twiml(one.get("Twiml", ""))
        if isinstance(stream, str):
            return _error(400, 12100, f"Document parse failure: {stream}")
        sid = "CA" + secrets.token_hex(16)
        call = FakeCall(sid=sid, to=to, from_=from_, form=form, twiml=one["Twiml"], stream_url=stream[0],
                        token=stream[1])
        self.calls[sid] = call
        return 201, call.resource(self.account_sid)

    @staticmethod
    def _ended(call: FakeCall) -> None:
        if call.ended_at is None:
            call.ended_at = time.monotonic()
            if call.on_end is not None:
                call.on_end()

    def _update(self, call: FakeCall, form):
        status = (form.get("Status") or [None])[0]
        twiml = (form.get("Twiml") or [None])[0]
        if call.status in FINAL:
            return _error(400, 21220, "Call is not in-progress. Cannot redirect.")
        if status in ("completed", "canceled"):
            call.hung_up = True
            call.status = status
            self._ended(call)
        elif twiml:
            try:
                root = twiml_check(twiml)
            except TwimlRefused as exc:
                return _error(400, 12100, str(exc))
            call.twiml_updates.append(twiml)
            call.dial = dial_of(root)
            if root.find("Hangup") is not None or call.dial is not None:
                self._ended(call)  # the stream ends: the call hangs up, or leaves for the dialled number
        else:
            return _error(400, 20001, "Status or Twiml is required")
        return 200, call.resource(self.account_sid)


def _check_options(form) -> str | None:
    one = {name: values[0] for name, values in form.items()}
    events = form.get("StatusCallbackEvent", [])
    if events and not set(events) <= CALLBACK_EVENTS:
        return f"StatusCallbackEvent must be among {sorted(CALLBACK_EVENTS)}, got {events}"
    if one.get("StatusCallback") and not one["StatusCallback"].startswith(("https://", "http://")):
        return "StatusCallback must be an absolute URL"
    for name in ("Timeout", "TimeLimit"):
        if name in one and not one[name].isdigit():
            return f"{name} must be an integer"
    if "MachineDetection" in one and one["MachineDetection"] not in AMD_MODES:
        return f"MachineDetection must be one of {sorted(AMD_MODES)}"
    if one.get("AsyncAmd") == "true" and not one.get("AsyncAmdStatusCallback"):
        return "AsyncAmdStatusCallback is required with AsyncAmd"
    return None


def _parse_stream_twiml(twiml: str) -> tuple[str, str] | str:
    """(stream url, token) from `<Response><Connect><Stream url><Parameter name=token>`, or what is wrong."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError as exc:
        return str(exc)
    stream = root.find("./Connect/Stream")
    if root.tag != "Response" or stream is None:
        return "expected <Response><Connect><Stream>"
    url = stream.get("url", "")
    parts = urlsplit(url)
    if parts.scheme != "wss" or not _STREAM_PATH.match(parts.path) or parts.query:
        return f"Stream url must be wss://HOST/media-stream/<call code> without a query, got {url!r}"
    tokens = [p.get("value", "") for p in stream.findall("Parameter") if p.get("name") == "token"]
    if len(tokens) != 1 or not tokens[0]:
        return "Stream needs exactly one non-empty <Parameter name='token'>"
    return url, tokens[0]


def _error(status: int, code: int, message: str) -> tuple[int, dict]:
    return status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                    "status": status}


def _handler_for(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            form = parse_qs(body, keep_blank_values=True)
            status, payload = fake.handle(method, urlsplit(self.path).path, form, _basic_auth(self.headers))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    return Handler


def _basic_auth(headers) -> tuple[str, str] | None:
    value = headers.get("Authorization", "")
    if not value.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
    except ValueError:
        return None
    return user, password
