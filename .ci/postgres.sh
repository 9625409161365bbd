#!/usr/bin/env bash
# Makes sure the PostgreSQL server binaries (initdb, pg_ctl, postgres) are on this machine, so
# the PgStore tests can start a throwaway cluster. Installs Debian's `postgresql` when they are
# missing; does nothing when AUDITKIT_PG_URL points the tests at an existing server.
set -euo pipefail

if [ -n "${AUDITKIT_PG_URL:-}" ]; then
    echo "postgres.sh: using AUDITKIT_PG_URL, no local server needed"
    exit 0
fi
if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "postgres.sh: PostgreSQL binaries found"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    SUDO="sudo"
fi
echo "postgres.sh: installing PostgreSQL from the system's packages"
# On CI a PostgreSQL test never skips: a failed install fails the run here, loudly.
if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null; }; then
    echo "postgres.sh: ERROR: could not install PostgreSQL (apt-get install postgresql failed); the PostgreSQL tests cannot run" >&2
    exit 1
fi
if ! ls /usr/lib/postgresql/*/bin/initdb; then
    echo "postgres.sh: ERROR: postgresql installed but no initdb under /usr/lib/postgresql/*/bin" >&2
    exit 1
fi
