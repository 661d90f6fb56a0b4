#!/usr/bin/env bash
# Headless Chromium for the browser tests (tests/test_browser.py), on a fresh Debian machine,
# run as root. The browser is the Debian package, driven by Playwright's Python API through
# executable_path: Playwright never downloads a browser of its own. With CI=true the browser
# tests fail (never skip) when this has not run. Call it from .ci/run before tox.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update
  # fonts: a page with no font installed renders empty boxes, and the overflow checks measure text
  apt-get install -y --no-install-recommends chromium fonts-dejavu-core fonts-liberation
fi
chromium --headless --no-sandbox --disable-gpu --version
