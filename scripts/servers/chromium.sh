#!/usr/bin/env bash
# Headless Chromium and its WebDriver (Debian's chromium and chromium-driver) for the
# dashboard's browser test (tests/api/test_dashboard_browser.py, driven by Selenium).
# Nothing runs between tests: each test starts its own headless browser through
# chromedriver, so start/stop are no-ops and status says whether the test can run here.
# Usage: chromium.sh install|start|stop|status|purge
set -uo pipefail
SERVER=chromium
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.bash"

installed() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }

case "${1:-start}" in
    install) installed || apt_install chromium chromium-driver fonts-dejavu-core ;;
    start|stop) ;;
    status)
        command -v chromium >/dev/null 2>&1 && echo "chromium: $(chromium --version 2>/dev/null)" || echo "chromium: missing"
        command -v chromedriver >/dev/null 2>&1 && echo "chromedriver: $(chromedriver --version 2>/dev/null)" || echo "chromedriver: missing" ;;
    purge) apt-get -o DPkg::Lock::Timeout=600 remove -y -qq chromium chromium-driver >/dev/null ;;
    *) echo "usage: $0 install|start|stop|status|purge" >&2; exit 2 ;;
esac
