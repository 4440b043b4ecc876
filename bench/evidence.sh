#!/usr/bin/env bash
# Search with the evidence filters (verdict, min_reproductions, sort by reproductions, the
# verdict facet) beside the same searches without them, in the same run, over loopback (wrk).
#
#   bash bench/evidence.sh postgres 100000 10    # N tickets, R results each (1M results)
#   bash bench/evidence.sh sqlite 100000 10
#
# Seeds with `ticketbooth seed --results-per-ticket R` (kept between runs: a database or data
# dir named after N and R is reused), starts a release server, then runs each query alone for
# $DURATION seconds (default 10) from 16 connections. Needs wrk (Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${1:-postgres}
N=${2:-100000}
R=${3:-10}
DURATION=${DURATION:-10}
ADMIN=${BENCH_ADMIN_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

cargo build --release --quiet
BIN=$PWD/target/release/ticketbooth
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null' EXIT

seed() {
  t0=$(date +%s.%N)
  RUST_LOG=warn "$BIN" seed --count "$N" --results-per-ticket "$R" "$@"
  echo "seeded $N tickets with $R results each in $(python3 -c "print(f'{$(date +%s.%N)-$t0:.0f}')") s"
}
case "$BACKEND" in
  postgres)
    DB_URL="${ADMIN%/*}/tb_bench_ev_${N}_$R"
    DATA_DIR=/tmp/tb-bench-ev-pg-$N-$R
    have=$(psql "$DB_URL" -Atc "SELECT count(*) FROM tickets" 2>/dev/null || echo 0)
    if [ "$have" != "$N" ]; then
      psql "$ADMIN" -qc "DROP DATABASE IF EXISTS tb_bench_ev_${N}_$R" -qc "CREATE DATABASE tb_bench_ev_${N}_$R"
      rm -rf "$DATA_DIR"
      seed --data-dir "$DATA_DIR" --database-url "$DB_URL"
    fi
    psql "$DB_URL" -qc "VACUUM ANALYZE"
    ;;
  sqlite)
    DATA_DIR=/tmp/tb-bench-ev-sqlite-$N-$R
    DB_URL="sqlite://$DATA_DIR/ticketbooth.db"
    if [ ! -f "$DATA_DIR/seeded" ]; then
      rm -rf "$DATA_DIR"
      seed --data-dir "$DATA_DIR"
      touch "$DATA_DIR/seeded"
    fi
    ;;
  *) echo "backend: postgres or sqlite" >&2; exit 2 ;;
esac

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn "$BIN" serve --read-rate off --upload-rate off --dump-interval off \
  --data-dir "$DATA_DIR" --database-url "$DB_URL" --listen "127.0.0.1:$PORT" &
SERVER=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
echo "tickets by verdict: $(curl -fsS "http://127.0.0.1:$PORT/api/v1/facets" | python3 -c 'import json,sys; print({f["value"]: f["count"] for f in json.load(sys.stdin)["verdict"]})')"

# Pairs: the search without the evidence filters, then with them.
PAIRS=(
  "tickets?task=image-classification&sort=accuracy|tickets?task=image-classification&sort=accuracy&verdict=wins&min_reproductions=2"
  "tickets?task=image-classification&dataset=cifar10&sort=accuracy|tickets?task=image-classification&dataset=cifar10&sort=accuracy&verdict=wins"
  "tickets?sort=downloads|tickets?sort=reproductions"
  "tickets?min_sparsity=0.9&sort=accuracy|tickets?min_sparsity=0.9&sort=accuracy&verdict=wins"
  "facets?task=image-classification|facets?task=image-classification&verdict=wins"
)
run() {
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/api/v1/$1"
  wrk -t2 -c16 -d"${DURATION}s" --latency "http://127.0.0.1:$PORT/api/v1/$1" | python3 bench/wrk_summary.py
}
for pair in "${PAIRS[@]}"; do
  base=${pair%%|*}; with=${pair#*|}
  printf '%-86s %s\n' "$base" "$(run "$base")"
  printf '%-86s %s\n' "$with" "$(run "$with")"
done
