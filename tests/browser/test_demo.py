"""`make demo`, exactly as the README says, then a staff person in Chromium: log in with the printed login, press
Call now on a contact, watch the call live, and open the finished call with its stereo recording, transcript and extracted data.

The demo runs in a process group of its own, with PORT and DEMO_DIR of this test (never the checkout's tmp/demo/),
and is stopped at the end the way Ctrl-C stops it: SIGINT to the whole group.
"""
from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import threading
import wave

import pytest

from simulator.polling import wait_for
from tests.browser.test_staff_flows import CHROMIUM, CHROMIUM_ARGS
from tests.processes import ROOT, free_port

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
expect = sync_api.expect

CONTACT = "+34600100001"  # a seeded contact (voicebot_site/demo_data.py)
BANNER = "Demo mode — calls are simulated, nobody is phoned."


class Demo:
    """`make demo` running: its output so far, read by a thread."""

    def __init__(self, *, port: int, folder) -> None:
        env = {**os.environ, "PORT": str(port), "DEMO_DIR": str(folder)}
        self.process = subprocess.Popen(["make", "demo"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.lines: list[str] = []
        threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True).start()

    def printed(self, pattern: str) -> str:
        """The first group of `pattern` in the demo's output, once printed."""
        def found() -> str | None:
            assert self.process.poll() is None, "make demo exited:\n" + "".join(self.lines)
            match = re.search(pattern, "".join(self.lines))
            return match.group(1) if match else None

        return wait_for(found, timeout=300, interval=0.2, what=f"make demo to print {pattern!r}")

    def stop(self) -> None:
        """Ctrl-C, as a terminal sends it: SIGINT to the whole group; then every process of it must end."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=30)
            wait_for(lambda: not _group_alive(self.process.pid), timeout=30, what="every demo process to stop")
        finally:
            if _group_alive(self.process.pid):
                os.killpg(self.process.pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def demo(tmp_path):
    demo = Demo(port=free_port(), folder=tmp_path / "demo")
    yield demo
    demo.stop()
    print("".join(demo.lines))  # shown when the test fails


@pytest.fixture
def chromium():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed: run scripts/ensure_chromium.sh as root (make test does)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_make_demo_places_a_simulated_call_and_shows_it_finished(demo, chromium, tmp_path):
    url = demo.printed(r"Open (http://127\.0\.0\.1:\d+)/admin/ and log in")
    username, password = demo.printed(r"username: (\S+)"), demo.printed(r"password: (\S+)")
    page = chromium.new_context(base_url=url, viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(15_000)

    page.goto("/admin/")
    expect(page.locator(".demo-banner")).to_have_text(BANNER)  # the login page too
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))

    # As the README says: open a seeded contact, press Call now; the call's page follows it live.
    page.goto("/admin/contacts/contact/")
    expect(page.locator(".demo-banner")).to_have_text(BANNER)
    page.get_by_role("row").filter(has_text=CONTACT).get_by_role("link").first.click()
    page.get_by_role("button", name="Call now").click()
    expect(page.locator(".messagelist")).to_contain_text(f"({CONTACT})")
    panel = page.locator("#live-call")
    expect(panel.locator("#live-status")).to_have_text("In progress", timeout=30_000)
    expect(panel.locator("#live-transcript")).to_contain_text("Hola, le llamo de la inmobiliaria", timeout=30_000)
    expect(panel.locator(".live-turn--callee")).to_contain_text("busco un piso en Madrid", timeout=30_000)
    call_page = page.url

    # The call ends and is processed; the calls list shows it with what was extracted.
    def finished_row():
        page.goto("/admin/calls/call/")
        row = page.get_by_role("row").filter(has_text=CONTACT)
        text = row.inner_text() if row.count() else ""
        return row if "Completed" in text and "Madrid" in text else None

    row = wait_for(finished_row, timeout=120, interval=2, what="the demo call to finish and be processed")
    row.get_by_role("link").first.click()
    assert page.url == call_page  # the call Call now opened is the one that finished
    expect(page.locator(".demo-banner")).to_have_text(BANNER)
    turns = page.locator(".call-transcript").first.locator(".call-turn").all_inner_texts()
    assert any("Bot: Hola, le llamo de la inmobiliaria" in turn for turn in turns), turns
    assert any("Client: Hola, busco un piso en Madrid" in turn for turn in turns), turns
    extracted = page.locator("table.call-extracted").inner_text()
    assert "Place\tMadrid" in extracted and "Budget\t1000" in extracted, extracted

    recording = page.request.get(page.locator("audio.call-audio").get_attribute("src"))
    assert recording.status == 200
    with wave.open(io.BytesIO(recording.body())) as wav:
        assert wav.getnchannels() == 2 and wav.getnframes() > 0
