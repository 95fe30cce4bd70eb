#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the browser tests (tests/browser/), which drive it with Playwright.
# Idempotent and quick when it is already there. Never downloads a browser of Playwright's own
# (`playwright install`): the tests launch /usr/bin/chromium.
# Without root (and no Chromium) it only explains; the browser tests then skip and say why.
exec bash "$(dirname "$0")/ensure_debian_package.sh" chromium chromium \
    "the browser tests (about 10 s)" "the browser tests will be skipped"
