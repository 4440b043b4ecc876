#!/usr/bin/env bash
# The "Public traffic" figures of docs/reliability.md: a release build on Postgres with ~400
# seeded tickets, probed by bench/public_traffic.py (loopback only, bounded loops).
#
#   bash bench/public_traffic.sh              # this checkout's build
#   BIN=/path/to/ticketbooth bash bench/public_traffic.sh   # another build (an older one, say)
#
# Needs the Postgres of scripts/test.sh (127.0.0.1:5432) and python3 with numpy + safetensors.
set -euo pipefail
cd "$(dirname "$0")/.."
ADMIN=${TEST_ADMIN_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
DB=tb_bench_public
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tb-pub.XXXXXX")
SERVER=
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
if [ -z "${BIN:-}" ]; then cargo build --release --quiet; BIN=target/release/ticketbooth; fi
psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null
psql "$ADMIN" -qc "CREATE DATABASE $DB" >/dev/null
URL_DB="${ADMIN%/*}/$DB"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn "$BIN" serve --data-dir "$WORK" --database-url "$URL_DB" --listen "127.0.0.1:$PORT" \
  --read-rate off --upload-rate off &
SERVER=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
"$BIN" seed --count 400 --data-dir "$WORK" --database-url "$URL_DB" 2>/dev/null
TOKEN=$("$BIN" token create --name bench --data-dir "$WORK" --database-url "$URL_DB" 2>/dev/null)
python3 bench/public_traffic.py "http://127.0.0.1:$PORT" "$TOKEN"
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
psql "$ADMIN" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null
