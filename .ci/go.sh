#!/usr/bin/env bash
# Makes sure Go and the sources of golang.org/x/mod/sumdb/tlog and sumdb/note are on this
# machine, so that tests/go_tlog.rs can check auditkit's Merkle proofs and signed checkpoints
# with verifiers nobody on the team wrote.
# Installs Debian's `golang-go` and `golang-golang-x-mod-dev` when missing (built in GOPATH
# mode: no Go module proxy is reachable). A failed install fails CI, loudly.
set -euo pipefail

tlog=/usr/share/gocode/src/golang.org/x/mod/sumdb/tlog
note=/usr/share/gocode/src/golang.org/x/mod/sumdb/note
if command -v go >/dev/null 2>&1 && [ -d "$tlog" ] && [ -d "$note" ]; then
    echo "go.sh: Go and the tlog and note sources found"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
echo "go.sh: installing Go and golang.org/x/mod from the system's packages"
if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq golang-go golang-golang-x-mod-dev >/dev/null; }; then
    echo "go.sh: ERROR: could not install golang-go and golang-golang-x-mod-dev; the Go proof checks cannot run" >&2
    exit 1
fi
if ! command -v go >/dev/null 2>&1 || [ ! -d "$tlog" ] || [ ! -d "$note" ]; then
    echo "go.sh: ERROR: installed, but go, $tlog or $note is missing" >&2
    exit 1
fi
