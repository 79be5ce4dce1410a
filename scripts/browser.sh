#!/usr/bin/env bash
# Makes sure the browser that tests/test_browser.py drives (with Playwright) is installed: Debian's
# Chromium at /usr/bin/chromium (or $SOLROUTE_CHROMIUM). Playwright's own browser download is not
# used. Does nothing when the browser is there; otherwise installs the `chromium` package (and a
# font, so pages and screenshots have readable text) with apt-get, as root or through password-less
# sudo. Quiet unless it installs something; test.sh calls it before pytest.
set -euo pipefail

chromium="${SOLROUTE_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
    exit 0
fi

fail() {
    cat >&2 <<MSG
scripts/browser.sh: $1
The browser tests (tests/test_browser.py) drive Chromium at $chromium. Either install it:
  Debian/Ubuntu (as root):  apt-get update && apt-get install -y chromium fonts-liberation
or point SOLROUTE_CHROMIUM at an installed Chromium or Chrome, e.g.
  export SOLROUTE_CHROMIUM="/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"
then run the tests again.
MSG
    exit 1
}

if [ -n "${SOLROUTE_CHROMIUM:-}" ]; then
    fail "SOLROUTE_CHROMIUM is set to $chromium, which is not an executable file."
fi
if ! command -v apt-get >/dev/null 2>&1; then
    fail "$chromium is missing and this machine has no apt-get to install it with."
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo=(sudo -n)
    else
        fail "$chromium is missing, and installing it needs root (or password-less sudo)."
    fi
fi

echo "browser: installing Debian's chromium for the browser tests (apt-get; once)" >&2
log="$(mktemp "${TMPDIR:-/tmp}/solroute-browser.XXXXXX")"
trap 'rm -f "$log"' EXIT
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300)
if ! { "${apt[@]}" update && "${apt[@]}" install --no-install-recommends chromium fonts-liberation; } \
    >"$log" 2>&1; then
    tail -n 25 "$log" >&2
    fail "apt-get could not install chromium (its last lines are above)."
fi
if [ ! -x "$chromium" ]; then
    fail "apt-get installed chromium, but there is still no $chromium."
fi
echo "browser: $("$chromium" --version 2>/dev/null || echo chromium) installed" >&2
