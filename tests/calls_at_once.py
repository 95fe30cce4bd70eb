"""N whole calls at once through `POST /make_call`, on one `make run`-like deployment: the runner behind
bench/calls_at_once.py and tests/e2e/test_calls_at_once.py.

The deployment is tests/processes.py's Stack (one Daphne, one qcluster; SQLite via SQLITE_PATH unless
`database_url` says otherwise, a private database on a PostgreSQL server, a private key prefix on Redis) with the
fakes and script of tests/e2e/test_full_call.py: FakeTwilio with simulated phones streaming real speech at real-time
pace, the fake Realtime server (greeting, the callee speaks, end_call, goodbye, hang-up), the fake OpenAI REST
server for the transcript and extraction afterwards. N integrators post /make_call at the same moment; each call's
result says what its integrator got, what its phone saw, and how true its recording is (tests/recording_timing.py).
"""
from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from tests.e2e.test_full_call import BOT_TONE_HZ, BOT_WORDS, CLIENT_WORDS, EXTRACTED, KEY, PUBLIC, _scenario
from simulator.openai_realtime import FakeRealtimeServer
from simulator.openai_rest import OpenAIRestFake
from simulator.phone import SPEECH, PhoneOutcome, SimulatedPhones
from simulator.twilio import FakeTwilio
from tests.processes import Stack
from tests.recording_timing import Timing, recording_timing

FIRST_NUMBER = 611_000_000


@dataclass
class CallResult:
    number: str
    http: str  # the status /make_call answered, or the client's error
    seconds: float  # how long /make_call took
    body: dict | None
    record: dict | None = None  # its call history once processed
    phone: PhoneOutcome | None = None
    timing: Timing | None = None
    # How late the phones' own loop woke (at worst) during this call: what the phone knows of when it played or
    # received anything is only that exact, on a machine too busy to give it the CPU on time.
    generator_lag_ms: float = 0.0

    @property
    def completed(self) -> bool:
        return self.http == "200" and bool(self.body) and self.body.get("call_status") == "completed"

    @property
    def extracted(self) -> bool:
        return bool(self.record) and self.record.get("extracted_info") == EXTRACTED

    @property
    def callbacks_refused(self) -> list[int | None]:
        """Status callbacks the server answered non-2xx (None: not at all)."""
        return [code for code in (self.phone.callbacks if self.phone else []) if code is None or not 200 <= code < 300]

    @property
    def goodbye_played(self) -> bool:
        """voicebot hung up only after the phone had played the bot's last words: the last mark voicebot sent came
        back, and the last audio played ended, before the stream did."""
        media = self.phone.media if self.phone else None
        if not media or media.ended_ms is None or not media.played or self.phone.ended_by != "voicebot":
            return False
        sent_marks = [frame["mark"]["name"] for frame in media.received if frame.get("event") == "mark"]
        last = media.played[-1]
        return (bool(sent_marks) and media.marks_returned[-1:] == sent_marks[-1:]
                and media.marks_returned_at[-1] <= media.ended_ms + 1
                and last.stream_ms + len(last.payload) / 8 <= media.ended_ms + 1)


@dataclass
class Run:
    n: int
    placed: int = 0
    spooled: int = 0  # callback files seen in WEBHOOK_SPOOL_DIR
    calls: list[CallResult] = field(default_factory=list)
    logs: str = ""
    loop_lag: list[tuple[float, float]] = field(default_factory=list)  # (monotonic, ms this process's loop woke late)


async def _lag_sampler(lags: list[tuple[float, float]]) -> None:
    while True:
        before = time.monotonic()
        await asyncio.sleep(0.01)
        now = time.monotonic()
        lags.append((now, max(0.0, (now - before - 0.01) * 1000)))


def _lag_during(lags: list[tuple[float, float]], media) -> float:
    start = media._started_at
    end = start + (media.ended_ms or 0) / 1000
    return max((lag for at, lag in lags if start <= at <= end + 0.5), default=0.0)


async def _spool_sampler(folder: Path, seen: set[str]) -> None:
    while True:
        if folder.is_dir():
            seen.update(p.name for p in folder.rglob("*.json"))
        await asyncio.sleep(0.05)


async def _make_call(session: aiohttp.ClientSession, url: str, auth: dict, number: str,
                     timeout: float) -> CallResult:
    started = time.monotonic()
    try:
        async with session.post(url + "/make_call", json={"phone_number": number}, headers=auth,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            body = await response.json(content_type=None)
            return CallResult(number, str(response.status), time.monotonic() - started, body)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
        return CallResult(number, type(exc).__name__, time.monotonic() - started, None)


async def _processed(session, url, auth, result: CallResult, deadline: float) -> None:
    sid = result.body.get("call_sid")
    while time.monotonic() < deadline:
        async with session.get(url + "/api/call_histories", params={"phone_number": result.number},
                               headers=auth) as response:
            records = await response.json(content_type=None) if response.status == 200 else []
        record = next((r for r in records if r.get("call_sid") == sid), None)
        if record and (record.get("extracted_info") or record.get("extraction_error")):
            result.record = record
            return
        await asyncio.sleep(1)


async def _measure_recording(session, url, auth, result: CallResult) -> None:
    media = result.phone.media if result.phone else None
    if not result.record or not result.record.get("audio_file_name") or not media or media.ended_ms is None:
        return
    async with session.get(url + "/" + result.record["audio_file_name"], headers=auth) as response:
        if response.status == 200:
            result.timing = recording_timing(await response.read(), ended_ms=media.ended_ms,
                                             callee_speech=SPEECH, played=media.played)


async def run_calls_at_once(n: int, *, database_url: str = "", redis_url: str = "", call_timeout: float = 90,
                            keep_logs: bool = False) -> Run:
    """One deployment, `n` simultaneous calls through /make_call; every result measured."""
    run = Run(n)
    with tempfile.TemporaryDirectory(prefix="calls-at-once-") as tmp_name:
        tmp = Path(tmp_name)
        spool = tmp / "spool"
        async with FakeRealtimeServer(_scenario()) as realtime:
            with OpenAIRestFake(api_key=KEY, voices={BOT_TONE_HZ: BOT_WORDS}, default_words=CLIENT_WORDS,
                                chat_answer=EXTRACTED) as rest, FakeTwilio(public_base_url=PUBLIC) as twilio:
                env = {
                    **twilio.voicebot_env(), "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": rest.base_url,
                    "OPENAI_REALTIME_BASE_URL": realtime.base_url.replace("http://", "ws://"),
                    "CALL_DURATION_LIMIT": "30", "SILENCE_TIMEOUT": "0", "PROCESSING_RETRY_BACKOFF": "0.1",
                    "WEBHOOK_SPOOL_DIR": str(spool), "MAKE_CALL_TIMEOUT": str(int(call_timeout)),
                    "MAKE_CALL_MAX_WAITERS": str(max(n, 1) * 2), "LOG_LEVEL": "WARNING",
                    # Every callee's script starts with the model saying the opening line; once the worker has
                    # rendered a cached opening (queued by the first call), later calls would skip that reply.
                    "OPENING_CACHE": "false",
                }
                if database_url:
                    env["DATABASE_URL"] = database_url
                if redis_url:
                    env["REDIS_URL"] = redis_url
                stack = Stack(tmp, extra_env=env)
                try:
                    await asyncio.to_thread(stack.prepare)
                    port = await asyncio.to_thread(stack.start_daphne)
                    stack.start_worker()
                    await _calls(run, stack, twilio, f"http://127.0.0.1:{port}", spool, call_timeout)
                finally:
                    await asyncio.to_thread(stack.stop_all)
                    run.logs = stack.logs(tail=None if keep_logs else 4000)
                run.placed = len(twilio.calls)
    return run


async def _calls(run: Run, stack: Stack, twilio: FakeTwilio, url: str, spool: Path, call_timeout: float) -> None:
    auth = {"Authorization": f"Token {stack.token}"}
    seen: set[str] = set()
    sampler = asyncio.create_task(_spool_sampler(spool, seen))
    lag = asyncio.create_task(_lag_sampler(run.loop_lag))
    try:
        async with SimulatedPhones(twilio, url, hang_up_after_s=25) as phones, aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0)) as session:
            numbers = [f"+34{FIRST_NUMBER + i}" for i in range(run.n)]
            run.calls = list(await asyncio.gather(*(
                _make_call(session, url, auth, number, call_timeout + 30) for number in numbers)))
            placed = [result for result in run.calls if result.body and result.body.get("call_sid")]
            deadline = time.monotonic() + 60 + 2 * run.n
            await asyncio.gather(*(_processed(session, url, auth, result, deadline) for result in placed))
            for result in placed:
                result.phone = phones.outcomes.get(result.body["call_sid"])
                await _measure_recording(session, url, auth, result)
                if result.phone and result.phone.media:
                    result.generator_lag_ms = _lag_during(run.loop_lag, result.phone.media)
            await asyncio.sleep(1)  # the last callbacks land (and spool) after the calls end
    finally:
        sampler.cancel()
        lag.cancel()
        await asyncio.gather(sampler, lag, return_exceptions=True)
    run.spooled = len(seen)
