#!/usr/bin/env bash
# The one test command. It sets up everything the tests need, idempotently, then runs them all:
#   - PostgreSQL: started if down, installed from Debian packages if missing (as root);
#   - a fresh database, exported as TEST_DATABASE_URL (the suite makes one database per test
#     from it, and drops the ones left by earlier runs);
#   - the Python packages of the interoperability tests and the examples
#     (examples/python/requirements.txt: safetensors, numpy, requests, scikit-learn), and
#     Debian's chromium with the playwright library for the web page's browser test;
#   - an S3-compatible server on loopback (moto, from PyPI), exported as TEST_S3_ENDPOINT;
#   - two OpenID Connect providers on loopback for the sign-in tests (tests/oidc: oidc-provider
#     from npm, pinned by its package-lock.json; Debian's nodejs and npm if missing), checked by
#     their self-test and exported as TEST_OIDC_ISSUER (a generic one) and
#     TEST_OIDC_ORCID_ISSUER (one that behaves like ORCID);
#   - a virtual environment for the Python package (python/), outside the clone and keyed by
#     python/requirements-test.txt (torch from PyPI, once), for its pytest tests and the examples;
#   - then every test: unit tests and the conformance suite on SQLite and on Postgres, and the
#     outside-in smoke check, the Python package's tests, the examples and the browser stories
#     against live servers (the web page's, and accounts with sign-in through the test providers
#     on both backends).
# With CI=true nothing is skipped: a missing service is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'test.sh: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

PGHOST_ADDR=127.0.0.1
PGPORT_NUM=5432
ADMIN_URL="${TEST_ADMIN_DATABASE_URL:-postgres://postgres:postgres@${PGHOST_ADDR}:${PGPORT_NUM}/postgres}"

pg_up() { pg_isready -q -h "$PGHOST_ADDR" -p "$PGPORT_NUM" 2>/dev/null; }

ensure_postgres() {
  if ! command -v pg_isready >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
    say "PostgreSQL is not installed: installing it from Debian packages"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql postgresql-client >/dev/null
  fi
  if ! pg_up; then
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$version" ]; then
      say "no PostgreSQL cluster found under /etc/postgresql"; return 1
    fi
    say "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  fi
  pg_up || { say "PostgreSQL did not come up on $PGHOST_ADDR:$PGPORT_NUM"; return 1; }
  # A fresh Debian install has no password for postgres; trust-auth machines ignore it.
  if ! psql "$ADMIN_URL" -qAtc 'SELECT 1' >/dev/null 2>&1; then
    say "setting a local password for the postgres role"
    as_root su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
  fi
}

fresh_database() {
  # Leftovers of earlier runs: one database per test, named tbt_<uuid>.
  psql "$ADMIN_URL" -qAtc "SELECT datname FROM pg_database WHERE datname LIKE 'tbt\_%'" |
    while read -r db; do psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null; done
  psql "$ADMIN_URL" -qc 'DROP DATABASE IF EXISTS ticketbooth_test' >/dev/null
  psql "$ADMIN_URL" -qc 'CREATE DATABASE ticketbooth_test' >/dev/null
  export TEST_DATABASE_URL="${ADMIN_URL%/*}/ticketbooth_test"
}

ensure_python() {
  if ! command -v python3 >/dev/null 2>&1; then
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3 python3-pip >/dev/null
  fi
  if ! python3 -c 'import safetensors, numpy, requests, sklearn, schemathesis, moto.server, flask' 2>/dev/null; then
    say "installing Python packages: examples/python/requirements.txt, schemathesis, moto[server]"
    python3 -m pip install -q --disable-pip-version-check -r examples/python/requirements.txt schemathesis "moto[server]" 2>/dev/null ||
      python3 -m pip install -q --disable-pip-version-check --break-system-packages -r examples/python/requirements.txt schemathesis "moto[server]"
  fi
}

# The services started in the background below (their pids), stopped when this script exits.
BACKGROUND_PIDS=""
stop_background() {
  local pid
  for pid in $BACKGROUND_PIDS; do kill "$pid" 2>/dev/null || true; done
}
trap stop_background EXIT

# An S3-compatible server on loopback for the object-storage and replica tests: moto's, from
# PyPI. Unless the caller points TEST_S3_ENDPOINT at one already.
ensure_s3() {
  if [ -n "${TEST_S3_ENDPOINT:-}" ]; then return 0; fi
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  python3 -m moto.server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
  BACKGROUND_PIDS="$BACKGROUND_PIDS $!"
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.2; done
  curl -fsS "http://127.0.0.1:$port/" >/dev/null || { say "the S3 server did not start"; return 1; }
  export TEST_S3_ENDPOINT="http://127.0.0.1:$port"
  export AWS_ENDPOINT_URL="$TEST_S3_ENDPOINT" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
}

# Two OpenID Connect providers on loopback for the sign-in tests: tests/oidc/provider.mjs, on
# oidc-provider from npm (tests/oidc/README.md). Its packages are installed with `npm ci` when
# package-lock.json changed (a stamp in node_modules holds its sha256); its self-test runs on
# providers of its own (a few seconds); then the ones the tests use start on two free ports,
# logging to target/oidc-provider.log. Unless the caller set TEST_OIDC_ISSUER already. Without
# CI=true a provider that cannot be had leaves the two variables unset; with it, that fails.
oidc_unavailable() {
  say "no test OpenID Connect provider: $*"
  [ "${CI:-}" != true ]
}

ensure_oidc() {
  if [ -n "${TEST_OIDC_ISSUER:-}" ]; then return 0; fi
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    say "installing Debian's nodejs and npm for the test OpenID Connect provider"
    { as_root apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nodejs npm >/dev/null; } ||
      { oidc_unavailable "could not install nodejs and npm"; return; }
  fi
  # oidc-provider 9 uses URL.parse and crypto.hash: Node.js 20.18 or later (Debian 12's is 18).
  node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 18) ? 0 : 1)' ||
    { oidc_unavailable "oidc-provider 9 needs Node.js 20.18 or later, this is $(node --version)"; return; }
  local hash
  hash=$(sha256sum tests/oidc/package-lock.json | cut -d' ' -f1)
  if [ "$(cat tests/oidc/node_modules/.stamp 2>/dev/null)" != "$hash" ]; then
    say "installing the test OpenID Connect provider's packages (npm ci in tests/oidc)"
    npm ci --prefix tests/oidc --no-audit --no-fund --loglevel=error >/dev/null ||
      { oidc_unavailable "npm ci failed in tests/oidc"; return; }
    echo "$hash" >tests/oidc/node_modules/.stamp
  fi
  local out
  out=$(node tests/oidc/selftest.mjs 2>&1) || { printf '%s\n' "$out" >&2; oidc_unavailable "its self-test failed"; return; }
  say "${out##*$'\n'}"
  local ports port orcid_port pid
  ports=$(python3 -c 'import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
  read -r port orcid_port <<<"$ports"
  mkdir -p target
  node tests/oidc/provider.mjs --port "$port" --orcid-port "$orcid_port" >/dev/null 2>target/oidc-provider.log &
  pid=$!
  BACKGROUND_PIDS="$BACKGROUND_PIDS $pid"
  local deadline=$((SECONDS + 20))
  while [ "$SECONDS" -lt "$deadline" ]; do
    curl -fsS --max-time 2 "http://127.0.0.1:$port/.well-known/openid-configuration" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  curl -fsS --max-time 5 "http://127.0.0.1:$port/.well-known/openid-configuration" >/dev/null 2>&1 &&
    curl -fsS --max-time 5 "http://127.0.0.1:$orcid_port/.well-known/openid-configuration" >/dev/null 2>&1 || {
      cat target/oidc-provider.log >&2
      oidc_unavailable "it did not start"; return; }
  export TEST_OIDC_ISSUER="http://127.0.0.1:$port" TEST_OIDC_ORCID_ISSUER="http://127.0.0.1:$orcid_port"
}

ensure_browser() {
  if ! command -v chromium >/dev/null 2>&1; then
    say "installing Debian's chromium for the browser tests"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >/dev/null
  fi
  # Playwright's library only, driving Debian's chromium: no browser download.
  if ! python3 -c 'import playwright' 2>/dev/null; then
    say "installing the Python package playwright"
    python3 -m pip install -q --disable-pip-version-check playwright 2>/dev/null ||
      python3 -m pip install -q --disable-pip-version-check --break-system-packages playwright
  fi
}

# Starts `ticketbooth serve` on a fresh data dir and a free port, with any extra arguments (and
# the environment the caller gives it); its public URL (sign-in callbacks) is where it listens.
# Sets SERVE_URL, SERVE_PID and SERVE_DIR.
serve_fresh() {
  SERVE_DIR=$(mktemp -d)
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  SERVE_URL="http://127.0.0.1:$port"
  # These checks test behaviour, not throttling (tests/conformance/limits.rs does that): no rate limits.
  target/debug/ticketbooth serve --data-dir "$SERVE_DIR" --listen "127.0.0.1:$port" --public-url "$SERVE_URL" \
    --read-rate off --upload-rate off --result-rate off "$@" 2>"$SERVE_DIR/serve.log" &
  SERVE_PID=$!
  for _ in $(seq 1 50); do curl -fsS "$SERVE_URL/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
}

# serve_fresh, and SERVE_TOKEN: a token for user alice.
start_server() {
  serve_fresh
  SERVE_TOKEN=$(target/debug/ticketbooth token create --name alice --data-dir "$SERVE_DIR" 2>/dev/null)
}

stop_server() {
  kill "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null || true
  rm -rf "$SERVE_DIR"
}

# The web page's story in headless chromium; screenshots of every page in target/screenshots.
browser_story() {
  start_server
  local rc=0
  rm -rf target/screenshots
  # A second user, who builds on one of alice's tickets ("built on this by others").
  local other
  other=$(target/debug/ticketbooth token create --name bob --data-dir "$SERVE_DIR" 2>/dev/null)
  python3 tests/browser/story.py "$SERVE_URL" "$SERVE_TOKEN" target/screenshots "$other" || rc=$?
  stop_server
  return $rc
}

# Accounts on the web page (tests/browser/accounts.py) in headless chromium: sign-in through the
# test OpenID Connect providers ("local" at TEST_OIDC_ISSUER, "orcid" at TEST_OIDC_ORCID_ISSUER,
# from ensure_oidc), sign-up, tokens, organizations, who may edit, CSRF, profiles, sign-out; on
# SQLite, then on a fresh Postgres database. Screenshots in target/screenshots-accounts/<backend>.
# Without the providers it is skipped, unless CI=true (then a failure).
browser_accounts() {
  if [ -z "${TEST_OIDC_ISSUER:-}" ] || [ -z "${TEST_OIDC_ORCID_ISSUER:-}" ]; then
    say "no test OpenID Connect provider (TEST_OIDC_ISSUER, TEST_OIDC_ORCID_ISSUER): the accounts story cannot run"
    if [ "${CI:-}" = true ]; then return 1; fi
    return 0
  fi
  local rc=0 backend db=ticketbooth_accounts_test
  rm -rf target/screenshots-accounts
  for backend in sqlite postgres; do
    local extra=()
    if [ "$backend" = postgres ]; then
      PGOPTIONS="-c client_min_messages=warning" psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $db" >/dev/null
      psql "$ADMIN_URL" -qc "CREATE DATABASE $db" >/dev/null
      extra=(--database-url "${ADMIN_URL%/*}/$db")
    fi
    TICKETBOOTH_OIDC_LOCAL_ISSUER="$TEST_OIDC_ISSUER" TICKETBOOTH_OIDC_LOCAL_CLIENT_ID=ticketbooth \
      TICKETBOOTH_OIDC_LOCAL_CLIENT_SECRET=ticketbooth-secret \
      TICKETBOOTH_OIDC_ORCID_ISSUER="$TEST_OIDC_ORCID_ISSUER" TICKETBOOTH_OIDC_ORCID_CLIENT_ID=ticketbooth \
      TICKETBOOTH_OIDC_ORCID_CLIENT_SECRET=ticketbooth-secret TICKETBOOTH_OIDC_ORCID_KIND=orcid \
      serve_fresh "${extra[@]}"
    say "accounts story on $backend ($SERVE_URL)"
    if ! python3 tests/browser/accounts.py "$SERVE_URL" "target/screenshots-accounts/$backend"; then
      rc=1
      tail -n 30 "$SERVE_DIR/serve.log" >&2
    fi
    stop_server
    if [ "$backend" = postgres ]; then psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $db" >/dev/null; fi
  done
  return $rc
}

# /api/docs (Swagger UI) under its Content-Security-Policy, in headless chromium: every operation
# renders, with no policy violation.
docs_csp() {
  start_server
  local rc=0
  python3 tests/browser/docs.py "$SERVE_URL" || rc=$?
  stop_server
  return $rc
}

# The web page's pure logic (static/lib.js: the layerwise profile's grouping, the range check,
# the dense baseline, lineage by owner, the verdict in words, the result form's checks, the
# transfer grid) with Node's own test runner; no packages, no build step.
web_unit() {
  if ! command -v node >/dev/null 2>&1; then
    say "installing Debian's nodejs for the web page's unit tests"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nodejs >/dev/null
  fi
  node --test tests/web/
}

# schemathesis against the live server's own OpenAPI document (schemathesis.toml says which
# check is off where, and why); a bounded number of examples per operation.
api_contract() {
  start_server
  local rc=0
  # Token 2, the one the DELETE /api/v1/tokens/{id} operation revokes (schemathesis.toml).
  target/debug/ticketbooth token create --name alice --label schemathesis-revokes-this --data-dir "$SERVE_DIR" >/dev/null
  # A fixed seed keeps CI repeatable; set SCHEMATHESIS_SEED to explore other inputs.
  python3 -m schemathesis.cli run "$SERVE_URL/api/openapi.json" --max-examples 20 \
    --seed "${SCHEMATHESIS_SEED:-20261128}" -H "Authorization: Bearer $SERVE_TOKEN" --no-color || rc=$?
  stop_server
  return $rc
}

# The Python package's virtual environment: outside the clone, named by the sha256 of
# python/requirements-test.txt (torch from PyPI, CPU wheels plus their nvidia-* packages, pytest,
# scikit-learn), created once and reused; a stamp with that hash makes reruns skip the install.
# The package itself (./python[torch]) is reinstalled on every run, from this clone. Sets PY_VENV.
# Without CI=true a venv that cannot be made skips the Python checks; with it, that fails.
python_venv() {
  local hash
  hash=$(sha256sum python/requirements-test.txt | cut -c1-12) || return 1
  PY_VENV="${XDG_CACHE_HOME:-$HOME/.cache}/ticketbooth/test-venv-$hash"
  if [ "$(cat "$PY_VENV/.stamp" 2>/dev/null)" != "$hash" ]; then
    say "creating the Python test venv $PY_VENV (torch from PyPI: a few GB, once)"
    local start=$SECONDS
    rm -rf "$PY_VENV"
    # Debian's python3 keeps venv (ensurepip) in a package of its own.
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
      as_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null || true
    fi
    python3 -m venv "$PY_VENV" &&
      "$PY_VENV/bin/pip" install -q --disable-pip-version-check -r python/requirements-test.txt || {
        say "could not create the Python test venv"; rm -rf "$PY_VENV"; PY_VENV=; return 1; }
    echo "$hash" >"$PY_VENV/.stamp"
    say "Python test venv ready in $((SECONDS - start)) s"
  fi
  # --no-build-isolation: setuptools is in the venv, so this needs no download.
  "$PY_VENV/bin/pip" install -q --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps ./python &&
    "$PY_VENV/bin/pip" install -q --disable-pip-version-check --no-build-isolation './python[torch]' || {
      say "could not install ./python into $PY_VENV"; return 1; }
  rm -rf python/build python/src/*.egg-info
}

# The Python package (python/tests) with pytest, in that venv, against a live server (and the
# second, rate-limited ones the tests start themselves from target/debug/ticketbooth).
python_package() {
  if ! python_venv; then
    if [ "${CI:-}" = true ]; then return 1; fi
    say "skipping the Python package's tests (no venv)"; return 0
  fi
  start_server
  local rc=0
  TICKETBOOTH_TEST_URL="$SERVE_URL" TICKETBOOTH_TEST_TOKEN="$SERVE_TOKEN" TICKETBOOTH_TEST_DATA_DIR="$SERVE_DIR" \
    TICKETBOOTH_BIN="$PWD/target/debug/ticketbooth" TICKETBOOTH_DISABLE_PROGRESS_BARS=1 \
    "$PY_VENV/bin/python" -m pytest python/tests -q -p no:cacheprovider || rc=$?
  # pytest's 5 is "no tests ran": a failure here.
  stop_server
  return $rc
}

# The Python find-publish-reuse workflows (examples/python, on the package), 2 rounds each, end
# to end: the numpy MLP and the torch CNN. In the package's venv (it has torch).
python_workflow() {
  if [ -z "${PY_VENV:-}" ]; then
    if [ "${CI:-}" = true ]; then say "no Python venv for the examples"; return 1; fi
    say "skipping the Python examples (no venv)"; return 0
  fi
  start_server
  local rc=0
  "$PY_VENV/bin/python" examples/python/check_workflow.py "$SERVE_URL" "$SERVE_TOKEN" || rc=$?
  stop_server
  return $rc
}

# The outside-in check of the upload/download contract, when the shared checks are beside us.
smoke() {
  local check=../shared/checks/smoke.py
  [ -f "$check" ] || { say "no $check here: skipping the smoke check"; return 0; }
  start_server
  local rc=0
  python3 "$check" "$SERVE_URL" "$SERVE_TOKEN" || rc=$?
  stop_server
  return $rc
}

ensure_postgres
fresh_database
ensure_python
ensure_browser
ensure_s3
ensure_oidc
say "TEST_DATABASE_URL=$TEST_DATABASE_URL TEST_S3_ENDPOINT=$TEST_S3_ENDPOINT" \
  "TEST_OIDC_ISSUER=${TEST_OIDC_ISSUER:-} TEST_OIDC_ORCID_ISSUER=${TEST_OIDC_ORCID_ISSUER:-}"

cargo build --quiet
smoke
api_contract
python_package
python_workflow
web_unit
browser_story
browser_accounts
docs_csp
# The test runner goes last, so its summary closes the output.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast
else
  cargo test --no-fail-fast
fi
