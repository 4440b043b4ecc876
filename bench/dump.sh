#!/usr/bin/env bash
# What the scheduled open-data dump costs the requests it runs beside: search latency from 8
# clients (wrk) while the start-up dump runs, then the same load once it has finished (the
# baseline, same run, same server).
#
#   bash bench/dump.sh [N]        (default 100000 tickets, Postgres)
#
# Seeds N synthetic tickets into the same database as bench/search.sh (reused when it already
# holds them). BIN=... runs another build. Needs wrk (Debian) and a Postgres at BENCH_ADMIN_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
ADMIN=${BENCH_ADMIN_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ -z "${BIN:-}" ]; then cargo build --release --quiet; BIN=$PWD/target/release/ticketbooth; fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tb-dump.XXXXXX")
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT

DB_URL="${ADMIN%/*}/tb_bench_$N"
have=$(psql "$DB_URL" -Atc "SELECT count(*) FROM tickets" 2>/dev/null || echo 0)
if [ "$have" != "$N" ]; then
  psql "$ADMIN" -qc "DROP DATABASE IF EXISTS tb_bench_$N" -qc "CREATE DATABASE tb_bench_$N"
  rm -rf "/tmp/tb-bench-pg-$N"
  RUST_LOG=warn "$BIN" seed --count "$N" --data-dir "/tmp/tb-bench-pg-$N" --database-url "$DB_URL"
fi

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT/api/v1/tickets?task=image-classification&sort=accuracy"
load() { wrk -t2 -c8 -d"$1" --latency "$URL" | python3 bench/wrk_summary.py; }

t0=$(date +%s.%N)
RUST_LOG=info "$BIN" serve --read-rate off --upload-rate off --dump-interval 1h \
  --data-dir "/tmp/tb-bench-pg-$N" --database-url "$DB_URL" --listen "127.0.0.1:$PORT" >"$WORK/log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
during=$(load 3s)
grep -q "dump: " "$WORK/log" && echo "warning: the dump ended during the first load; raise N" >&2
for _ in $(seq 600); do grep -q "dump: " "$WORK/log" && break; sleep 0.1; done
took=$(python3 -c "print(f'{$(date +%s.%N)-$t0:.1f}')")
after=$(load 3s)
echo "start-up dump of $N tickets done within $took s"
echo "search while the dump runs : $during"
echo "search after (baseline)    : $after"
