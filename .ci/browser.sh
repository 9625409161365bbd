#!/usr/bin/env bash
# Makes sure the viewer's browser test (examples/viewer.rs, `browser` tests) has a real browser:
# Debian's Chromium, driven by playwright-core from npm (no browser download of its own: it is
# pointed at /usr/bin/chromium). Installs what is missing; a failed install fails CI, loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
if ! command -v chromium >/dev/null 2>&1; then
    echo "browser.sh: installing Debian's chromium"
    if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null; }; then
        echo "browser.sh: ERROR: could not install chromium (apt-get install chromium failed); the browser test cannot run" >&2
        exit 1
    fi
fi
chromium --version

TOOLS=target/browser-tools
if [ ! -d "$TOOLS/node_modules/playwright-core" ]; then
    echo "browser.sh: installing playwright-core from npm into $TOOLS"
    mkdir -p "$TOOLS"
    if ! npm install --silent --no-audit --no-fund --prefix "$TOOLS" playwright-core@1 >/dev/null; then
        echo "browser.sh: ERROR: could not install playwright-core from npm; the browser test cannot run" >&2
        exit 1
    fi
fi
node -e "console.log('playwright-core ' + require('./$TOOLS/node_modules/playwright-core/package.json').version)"
