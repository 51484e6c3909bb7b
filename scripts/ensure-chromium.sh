#!/usr/bin/env bash
# Make Chromium and ChromeDriver available for the browser test of report.html
# (tests/test_report_browser.py, marker `browser`). Installs Debian's `chromium` and
# `chromium-driver` when they are missing and apt-get can be used (as root, or with password-less
# sudo); otherwise says so and leaves it to the test, which skips outside CI and fails in CI.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "note: chromium/chromedriver not found and no apt-get: the browser test of report.html will be skipped" >&2
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "note: chromium/chromedriver not found; install them (apt-get install chromium chromium-driver) to run the browser test of report.html" >&2
    exit 0
fi
echo "installing Debian's chromium and chromium-driver for the browser test of report.html" >&2
export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get install -y -q chromium chromium-driver >/dev/null; then
    "${SUDO[@]}" apt-get update -q >/dev/null
    "${SUDO[@]}" apt-get install -y -q chromium chromium-driver >/dev/null
fi
chromium --version >&2
