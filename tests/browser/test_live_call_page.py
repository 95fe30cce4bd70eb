"""Watching a live phone call from its admin page, in a real Chromium against a real Daphne.

The call is real as far as voicebot can tell: placed through the API, dialled by FakeTwilio, answered by a simulated
phone streaming speech over the media stream (signed handshake, single-use token), talked to by the fake OpenAI
Realtime server. Staff open it from the calls list's "Watch live" link; the transcript grows on the page as the
callee and the bot speak, without a reload; "Listen" plays both voices in the page on the call's clock (checked
against what the phone streamed and played); the "Hang up" button ends the call through Twilio's REST API.
"""
from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import pytest
import requests

from tests.browser.admin_login import logged_in_page
from simulator.openai_realtime import CalleeTurn, FakeRealtimeServer, RealtimeScenario, Reply
from simulator.phone import SimulatedPhones
from simulator.twilio import FakeTwilio
from simulator.polling import wait_for
from tests.processes import Stack

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--autoplay-policy=no-user-gesture-required"]
PUBLIC_BASE_URL = "https://voicebot.example"
NUMBER = "+34600777888"
OPENING = "Hola, soy Lucía, de la inmobiliaria."
CALLEE = "Busco un piso en Valencia."
ANSWER = "¿Y qué presupuesto tiene?"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
expect = sync_api.expect


class Background:
    """An event loop in a thread of its own for the fakes that speak asyncio (OpenAI Realtime, the phones), while
    the test drives the browser synchronously."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_the_rest() -> None:
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def system(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed: run scripts/ensure_chromium.sh as root (make test does)")
    background = Background()
    scenario = RealtimeScenario(replies=[Reply(OPENING, audio_ms=1200), Reply(ANSWER, audio_ms=1200)])
    realtime = FakeRealtimeServer(scenario)
    background.run(realtime.__aenter__())
    with FakeTwilio(public_base_url=PUBLIC_BASE_URL) as twilio:
        stack = Stack(tmp_path, extra_env={
            **twilio.voicebot_env(), "OPENAI_BASE_URL": realtime.base_url, "OPENAI_API_KEY": realtime.api_key,
            "CALL_DURATION_LIMIT": "0", "SILENCE_TIMEOUT": "0", "AMD_MODE": "off",
        })  # SQLite and the in-memory layer, or PostgreSQL + Redis when the environment names them
        phones = SimulatedPhones(twilio, server_url="", hang_up_after_s=120)
        try:
            stack.prepare()
            stack.base_url = phones.server_url = f"http://127.0.0.1:{stack.start_daphne()}"
            background.run(phones.__aenter__())
            yield stack, twilio, realtime, phones, background
        except BaseException:
            print(stack.logs())
            raise
        finally:
            background.run(phones.__aexit__(None, None, None))
            background.run(realtime.__aexit__(None, None, None))
            background.close()
            stack.stop_all()


def test_staff_follow_a_live_call_and_hang_it_up(system):
    stack, twilio, realtime, phones, _ = system
    response = requests.post(stack.base_url + "/api/calls/", json={"phone_number": NUMBER}, timeout=10,
                             headers={"Authorization": f"Token {stack.token}"})
    assert response.status_code == 202, response.text
    sid = response.json()["call_sid"]
    wait_for(lambda: sid in phones.outcomes and phones.outcomes[sid].media is not None, timeout=30,
             what="the phone to answer and open the media stream")

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = logged_in_page(browser, stack.base_url)

        # The calls list says the call is live and links to it.
        page.goto("/admin/calls/call/")
        page.get_by_role("row").filter(has_text=NUMBER).get_by_role("link", name="Watch live").click()
        panel = page.locator("#live-call")
        expect(panel.locator("#live-connection")).to_have_text("Live")
        expect(panel.locator("#live-status")).to_have_text("In progress")
        expect(panel.locator("#live-transcript")).to_contain_text(OPENING)
        expect(panel.locator("#live-elapsed")).to_have_text(re.compile(r"^\d+:\d\d$"))
        page.evaluate("window.stillTheSamePage = true")
        assert CALLEE not in panel.locator("#live-transcript").inner_text()
        panel.get_by_role("button", name="Listen").click()
        expect(panel.locator("#live-listen-state")).to_have_text("Listening")

        # The callee speaks now; their words, then the bot's answer, appear on the open page.
        media = phones.outcomes[sid].media
        realtime.scenario.callee_turns.append(
            CalleeTurn(after_ms=media.next_timestamp_ms + 300, speech_ms=600, transcript=CALLEE))
        expect(panel.locator(".live-turn--callee")).to_contain_text(CALLEE)
        expect(panel.locator(".live-turn--bot").last).to_contain_text(ANSWER)
        assert page.evaluate("window.stillTheSamePage") is True  # no reload
        texts = panel.locator(".live-turn").all_inner_texts()
        assert [OPENING in texts[0], CALLEE in texts[1], ANSWER in texts[2]] == [True, True, True]

        # What staff heard is the call, on its own clock: the callee's audio where Twilio stamped it, the bot's
        # where Twilio played it.
        # The bot's answer reaches the listener once Twilio has played it (its marks came back): wait for all of it.
        page.wait_for_function("window.voicebotListen.pieces.filter(p => p.side === 1)"
                               ".reduce((total, p) => total + p.samples, 0) >= 1200 * 8")
        heard = page.evaluate("window.voicebotListen.pieces")
        callee = [piece for piece in heard if piece["side"] == 0]
        bot = [piece for piece in heard if piece["side"] == 1]
        assert len(callee) >= 10 and bot, heard
        assert all(piece["at_ms"] % 20 == 0 for piece in callee)
        joined = sum(a["at_ms"] + a["samples"] // 8 == b["at_ms"] for a, b in zip(callee, callee[1:]))
        assert joined >= len(callee) - 2  # back to back (a gap only where the tap started or a piece was sent early)
        played = [(chunk.stream_ms, len(chunk.payload)) for chunk in media.played]
        for piece in bot:
            assert any(abs(piece["at_ms"] - at) <= 60 for at, _ in played), (piece, played)
        panel.get_by_role("button", name="Stop listening").click()
        expect(panel.locator("#live-timeline")).to_contain_text("Staff listened in: ops")

        # Hang up: Twilio is asked to end the call, the phone's stream stops, the page says it is over.
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Hang up").click()
        wait_for(lambda: twilio.calls[sid].hung_up, timeout=15, what="Twilio's REST hang-up")
        expect(page.locator(".messagelist")).to_contain_text(f"Hung up {NUMBER}")
        expect(page.get_by_text("Completed").first).to_be_visible()
        browser.close()

    call = requests.get(f"{stack.base_url}/api/calls/{sid}/", timeout=10,
                        headers={"Authorization": f"Token {stack.token}"}).json()
    assert call["end_reason"] == "staff_hangup"
    assert [turn["text"] for turn in call["live_transcript"]][:3] == [OPENING, CALLEE, ANSWER]
