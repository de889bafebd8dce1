#!/usr/bin/env bash
# Install the servers the registry tests start on 127.0.0.1: PostgreSQL (Debian's `postgresql`; the tests run it
# as an unprivileged user from a temporary data folder, so no cluster is created or started here). The S3 server
# (moto) and the MLflow server come from the Python lock file. Idempotent: does nothing when PostgreSQL is there.
# Called by scripts/setup.sh; run it as root (apt-get). Without it the server tests are skipped (they fail
# under CI=true).
set -euo pipefail

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && echo "$d"; done | sort -V | tail -1
}
have_postgres() {
  command -v initdb >/dev/null 2>&1 || [ -n "$(pg_bindir)" ]
}

if have_postgres; then
  echo "install-services: PostgreSQL is installed ($(command -v initdb || pg_bindir))"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install-services: PostgreSQL is missing and this is not root: run 'sudo apt-get install -y postgresql'" \
       "(the registry server tests are skipped until then)" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-services: PostgreSQL is missing and apt-get is not available: install PostgreSQL >= 13 with" \
       "your package manager (initdb and postgres must be on PATH or under /usr/lib/postgresql/*/bin)" >&2
  exit 0
fi
echo "install-services: apt-get install -y postgresql (the tests start their own server from a temporary folder)"
if ! find /var/lib/apt/lists -maxdepth 1 -type f ! -name lock 2>/dev/null | grep -q .; then
  echo "install-services: apt-get update (package lists are empty)"
  apt-get update -qq
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
have_postgres && echo "install-services: PostgreSQL installed ($(pg_bindir))"
