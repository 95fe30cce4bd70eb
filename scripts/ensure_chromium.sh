#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the browser tests (tests/browser/), which drive it with Playwright.
# Idempotent and quick when it is already there. Never downloads a browser of Playwright's own
# (`playwright install`): the tests launch /usr/bin/chromium.
# Without root (and no Chromium) it only explains; the browser tests then skip and say why.
set -uo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "ensure_chromium: Chromium is not installed and this is not root, so the browser tests will be skipped." >&2
    echo "ensure_chromium: install it with: sudo apt-get install -y --no-install-recommends chromium" >&2
    exit 0
fi
echo "ensure_chromium: installing Debian's chromium for the browser tests (about 10 s)..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null || {
    echo "ensure_chromium: apt-get could not install chromium; the browser tests will be skipped." >&2
    exit 1
}
command -v chromium
