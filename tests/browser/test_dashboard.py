"""The dashboard in a real Chromium against a real Daphne: a manager logs in, reads today's figures on known calls,
sees the charts drawn, and follows a figure to the calls it counts.

The calls are written through `manage.py shell` (placing them for real would take a phone network; their figures
are what matters here), on a Stack of its own: the staff-flow tests' calls would change the counts.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.processes import ROOT, Stack

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
SEED = """
from datetime import timedelta
from decimal import Decimal
from django.utils import timezone
from calls.models import Call
from contacts.models import Contact
now = timezone.now()
for index, (status, duration, cost, place) in enumerate([("completed", 45, "0.25", "Madrid"),
        ("completed", 200, "0.50", None), ("no-answer", None, None, None)]):
    contact = Contact.objects.create(phone_number=f"+3460011122{index}", name=f"Callee {index}")
    answered = now if duration else None
    data = {"place": place, "budget": None, "other_requirements": None} if duration else {}
    Call.objects.create(contact=contact, phone_number=contact.phone_number, twilio_sid=f"CA{index:032d}",
                        status=status, duration=duration, answered_at=answered, extracted_data=data,
                        cost_total=Decimal(cost) if cost else None)
print("seeded")
"""

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
expect = sync_api.expect


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("dashboard-stack"))
    stack.prepare()
    assert "seeded" in stack.manage("shell", "-c", SEED).stdout
    stack.base_url = f"http://127.0.0.1:{stack.start_daphne()}"
    yield stack
    stack.stop_all()


@pytest.fixture
def page(stack):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed: run scripts/ensure_chromium.sh as root (make test does)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(base_url=stack.base_url, viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(10_000)
        yield page
        shot(page, "51-dashboard-figure-calls")
        browser.close()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_a_manager_reads_the_dashboard_and_opens_the_calls_behind_a_figure(page):
    page.goto("/admin/")
    page.get_by_label("Username").fill("ops")
    page.get_by_label("Password").fill("pw-ops")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))

    today = page.locator("#call-dashboard tr[data-period=today] td")
    expect(today).to_have_text(["3", "67 %", "2:02", "0.75 USD"])
    fields = page.locator(".dashboard-fill tr")
    expect(fields.filter(has_text="Place")).to_contain_text("50 %")
    charts = page.locator("#call-dashboard figure.dashboard-chart")
    expect(charts).to_have_count(3)
    # The talk-time histogram draws one bar per answered call's bucket: 45 s and 200 s.
    talk = charts.filter(has_text="Talk time of answered calls").locator("rect")
    expect(talk).to_have_count(2)
    assert all(float(bar.get_attribute("height")) > 0 for bar in talk.all())
    expect(page.get_by_role("link", name="Calls", exact=True).first).to_be_visible()  # the sections, below
    shot(page, "50-dashboard")

    page.locator(".dashboard-outcomes tr", has_text="Completed").get_by_role("link").click()
    page.wait_for_url(re.compile(r"/admin/calls/call/\?"))
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
