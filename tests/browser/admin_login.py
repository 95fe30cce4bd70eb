"""A Chromium page of a test stack's admin, logged in as its superuser `ops` (tests.processes.Stack.prepare)."""
import re


def logged_in_page(browser, base_url: str, *, timeout_ms: int = 15_000):
    page = browser.new_context(base_url=base_url).new_page()
    page.set_default_timeout(timeout_ms)
    page.goto("/admin/")
    page.get_by_label("Username").fill("ops")
    page.get_by_label("Password").fill("pw-ops")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))
    return page
