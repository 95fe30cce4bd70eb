"""Simulated phones behind FakeTwilio: what happens on Twilio's side once voicebot asks it to dial.

For every call FakeTwilio accepts, a lifecycle runs as Twilio's would: signed `initiated` and `ringing` callbacks;
then, by the number's behaviour, `busy` / `no-answer`, or `in-progress` and the media stream (TwilioMediaClient
streaming real speech at real-time pace, signed handshake, the call's token; keys pressed as scripted in
`keypresses`); the call ends when voicebot hangs
up through the REST API (or a TwiML update with <Hangup>), or when the callee hangs up after `hang_up_after_s`:
the stream gets `stop` and the signed `completed` callback carries the duration. A TwiML update with a `<Dial>` (a
transfer) ends the stream too; the dialled number then behaves as `behaviour` says: when it answers, Twilio fetches
its whisper (`<Number url>`), and in any case posts the dial's outcome to `<Dial action>`; both answers are checked
as TwiML and kept in the outcome.

Per number: `behaviour` (one for every call, or a list: one per call in turn, the last repeating, e.g. busy then
answer) and `voices` (what that callee says instead of `speech`, e.g. `voice(330)`: a tone the fake Realtime server
recognises to play that callee's script). `dialled_at` / `ended_at` are time.monotonic() as this side saw them.
"""
import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from calls.live.relay.mulaw import tone
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from simulator.twilio import FakeCall, FakeTwilio
from simulator.twiml import WHISPER_VERBS, twiml_check
from simulator.twilio_media import TwilioMediaClient
from simulator.polling import async_wait_for
from simulator.speech import CALLEE_SPEECH

SPEECH = CALLEE_SPEECH


@dataclass
class PhoneOutcome:
    sid: str
    to: str
    media: TwilioMediaClient | None = None
    duration: int = 0
    callbacks: list[int | None] = field(default_factory=list)  # HTTP status, None when the server was down
    ended_by: str = ""
    whisper: str = ""  # what the dialled person heard first (a transfer), as TwiML
    after_dial: str = ""  # the TwiML Twilio played to the callee once the dial ended
    dialled_at: float = 0.0
    ended_at: float = 0.0


def voice(hz: float, speech_ms: int = 2000) -> bytes:
    """A callee's recognisable "voice": `speech_ms` of a pure tone at `hz` (keys of FakeRealtimeServer's voices)."""
    return tone(speech_ms, hz)


@dataclass
class SimulatedPhones:
    """Answers FakeTwilio's calls. `server_url` is where voicebot listens (http://127.0.0.1:PORT)."""

    twilio: FakeTwilio
    server_url: str
    behaviour: dict[str, str | list[str]] = field(default_factory=dict)  # number -> answer | busy | no-answer
    speech: bytes = SPEECH
    voices: dict[str, bytes] = field(default_factory=dict)  # number -> what that callee says instead of `speech`
    ring_s: float = 0.2
    hang_up_after_s: float = 60.0
    keypresses: dict[str, list[tuple[float, str]]] = field(default_factory=dict)  # number -> (s after start, key)
    outcomes: dict[str, PhoneOutcome] = field(default_factory=dict)

    async def __aenter__(self) -> "SimulatedPhones":
        self._task = asyncio.create_task(self._watch())
        self._lifecycles: list[asyncio.Task] = []
        return self

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        for task in self._lifecycles:
            task.cancel()
        await asyncio.gather(self._task, *self._lifecycles, return_exceptions=True)

    async def wait_ended(self, count: int, *, timeout: float = 60) -> list[PhoneOutcome]:
        def ended() -> list[PhoneOutcome] | None:
            outcomes = [o for o in self.outcomes.values() if o.ended_by]
            return outcomes if len(outcomes) >= count else None

        return await async_wait_for(ended, timeout=timeout, interval=0.1, what=f"{count} call(s) to end")

    async def _watch(self) -> None:
        while True:
            with self.twilio.lock:
                new = [call for sid, call in self.twilio.calls.items() if sid not in self.outcomes]
            for call in new:
                self.outcomes[call.sid] = PhoneOutcome(sid=call.sid, to=call.to, dialled_at=time.monotonic())
                self._lifecycles.append(asyncio.create_task(self._lifecycle(call)))
            await asyncio.sleep(0.05)

    async def _callback(self, outcome: PhoneOutcome, status: str, **extra) -> None:
        """Deliver a signed status callback; a server that is down loses it (None), as it would with Twilio."""
        hook = self.twilio.status_callback(outcome.sid, status, **extra)
        try:
            response = await asyncio.to_thread(hook.post_http, self.server_url)
        except requests.ConnectionError:
            outcome.callbacks.append(None)
            return
        outcome.callbacks.append(response.status_code)

    async def _lifecycle(self, call: FakeCall) -> None:
        outcome = self.outcomes[call.sid]
        await self._callback(outcome, "initiated")
        await self._callback(outcome, "ringing")
        await asyncio.sleep(self.ring_s)
        behaviour = self._behaviour(call)
        if behaviour != "answer":
            self.twilio.set_state(call.sid, status=behaviour, duration=0)
            outcome.ended_at = time.monotonic()
            await self._callback(outcome, behaviour, duration=0)
            outcome.ended_by = behaviour
            return
        await self._callback(outcome, "in-progress")
        answered = time.monotonic()
        ended_by = await self._talk(call, outcome)
        outcome.ended_at = time.monotonic()
        if call.dial is not None:
            await self._transfer(call, outcome)
        outcome.ended_by = ended_by  # once the transfer's requests are done too: wait_ended waits for this
        outcome.duration = max(1, round(time.monotonic() - answered))
        await self._callback(outcome, "completed", duration=outcome.duration)

    def _behaviour(self, call: FakeCall) -> str:
        """This call's behaviour: the number's, or for a list, the one for this call to the number (the last
        repeating)."""
        behaviour = self.behaviour.get(call.to, "answer")
        if isinstance(behaviour, str):
            return behaviour
        earlier = sum(1 for outcome in self.outcomes.values() if outcome.to == call.to and outcome.sid != call.sid
                      and outcome.dialled_at <= self.outcomes[call.sid].dialled_at)
        return behaviour[min(earlier, len(behaviour) - 1)]

    @staticmethod
    async def _press_keys(media: TwilioMediaClient, keys: list[tuple[float, str]]) -> None:
        """The callee presses keys on the stream's clock: Twilio's `dtmf` frames, in order with the audio."""
        for at_s, digit in keys:
            await asyncio.sleep(max(0.0, at_s - media.stream_ms() / 1000))
            await media.dtmf(digit)

    async def _transfer(self, call: FakeCall, outcome: PhoneOutcome) -> None:
        behaviour = self.behaviour.get(call.dial.number, "answer")
        if behaviour == "answer" and call.dial.whisper_url:
            whisper = await asyncio.to_thread(self.twilio.whisper_request(call.sid).post_http, self.server_url)
            assert whisper.status_code == 200, whisper.text
            twiml_check(whisper.text, verbs=WHISPER_VERBS)
            outcome.whisper = whisper.text
        status = "completed" if behaviour == "answer" else behaviour
        hook = self.twilio.dial_outcome(call.sid, status, duration=1 if status == "completed" else None)
        response = await asyncio.to_thread(hook.post_http, self.server_url)
        assert response.status_code == 200, response.text
        twiml_check(response.text)
        outcome.after_dial = response.text

    async def _talk(self, call: FakeCall, outcome: PhoneOutcome) -> str:
        url, headers, params = self.twilio.stream_handshake(call.sid)
        local = urlsplit(self.server_url)
        media = TwilioMediaClient(url=f"ws://{local.netloc}{urlsplit(url).path}", token=params["token"],
                                  call_sid=call.sid, account_sid=self.twilio.account_sid)
        outcome.media = media
        try:
            await media.open(headers=headers)
        except (OSError, InvalidHandshake, ConnectionClosed):
            return "connect_failed"  # Twilio hangs up a call whose stream cannot connect
        await media.start()
        hung_up = asyncio.Event()
        loop = asyncio.get_running_loop()
        def ended() -> None:  # in FakeTwilio's thread, the moment it ends the call
            media.end_at(call.ended_at)
            loop.call_soon_threadsafe(hung_up.set)

        with self.twilio.lock:
            call.on_end = ended
            if call.ended_at is not None:
                ended()
        speech = self.voices.get(call.to, self.speech)
        streaming = asyncio.create_task(media.stream(speech, then_silence_s=self.hang_up_after_s, until=hung_up))
        pressing = asyncio.create_task(self._press_keys(media, self.keypresses.get(call.to, [])))
        closed = asyncio.create_task(media.closed_by_server.wait())
        ended = asyncio.create_task(hung_up.wait())
        await asyncio.wait({closed, ended}, timeout=self.hang_up_after_s, return_when=asyncio.FIRST_COMPLETED)
        for task in (closed, ended):
            task.cancel()
        if call.ended_at is not None:
            ended_by = "voicebot"  # the stream ended then (media.end_at), not when this phone got round to it
        else:
            ended_by = "stream_closed" if media.closed_by_server.is_set() else "callee"
        hung_up.set()
        pressing.cancel()
        await streaming
        await media.stop()
        return ended_by
