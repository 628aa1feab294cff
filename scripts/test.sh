#!/usr/bin/env bash
# The whole test suite, from a fresh clone: venv, install, test peers, pytest.
# PostgreSQL tests run when PostgreSQL answers on 127.0.0.1:5432 (or SUPPORTBOT_TEST_PG
# names another server); IRC tests use the Ergo binary fetched into .cache/ergo-root; e-mail
# tests use Dovecot installed by scripts/get_dovecot.sh.
# Under CI=true a missing peer fails the run instead of skipping tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[dev]'

if [ -z "${ERGO_BIN:-}" ] && [ -f scripts/get_ergochat.sh ]; then
  if bash scripts/get_ergochat.sh .cache/ergo-root >/dev/null 2>&1; then
    export ERGO_BIN="$PWD/.cache/ergo-root/usr/bin/ergochat"
  else
    echo "note: could not fetch the Ergo IRC server; IRC tests will skip (fail under CI=true)" >&2
  fi
fi

# Prometheus Alertmanager + amtool (Debian prometheus-alertmanager) for the alert intake tests.
if [ -z "${ALERTMANAGER_BIN:-}" ] && [ -f scripts/get_alertmanager.sh ]; then
  if bash scripts/get_alertmanager.sh .cache/alertmanager-root >/dev/null 2>&1; then
    export ALERTMANAGER_BIN="$PWD/.cache/alertmanager-root/usr/bin/prometheus-alertmanager"
    export AMTOOL_BIN="$PWD/.cache/alertmanager-root/usr/bin/amtool"
  else
    echo "note: could not fetch Prometheus Alertmanager; alert intake tests will skip (fail under CI=true)" >&2
  fi
fi

# E-mail tests: Debian's Dovecot IMAP server, installed with its service kept off (needs root
# or sudo; see the script's header for why it cannot be unpacked like Ergo).
if [ -z "${DOVECOT_BIN:-}" ] && [ -f scripts/get_dovecot.sh ]; then
  if bash scripts/get_dovecot.sh >/dev/null 2>&1; then
    export DOVECOT_BIN=/usr/sbin/dovecot
  else
    echo "note: could not install Dovecot; e-mail tests will skip (fail under CI=true)" >&2
  fi
fi

if [ -z "${SUPPORTBOT_TEST_PG:-}" ]; then
  if .venv/bin/python - <<'PY' 2>/dev/null
import psycopg
psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", connect_timeout=3).close()
PY
  then
    export SUPPORTBOT_TEST_PG="postgresql://postgres@127.0.0.1:5432/test"
  else
    echo "note: PostgreSQL is not answering on 127.0.0.1:5432; PostgreSQL tests will skip (fail under CI=true)" >&2
  fi
fi

# Lint and types first: cheap, and a broken contract should fail before the slow tests.
.venv/bin/ruff check .
.venv/bin/mypy

set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$rc"
