#!/usr/bin/env bash
# Search under load: a mix of realistic requests from 16 concurrent clients over loopback
# (wrk), beside the same SQL run straight against Postgres by pgbench in the same run.
#
#   bash bench/search.sh postgres 100000     # or: postgres 1000000, sqlite 100000
#
# Seeds N synthetic tickets with `ticketbooth seed` (kept between runs: a database or data dir
# named after N is reused when it already holds them), starts a release server, then runs each
# tool for $DURATION seconds (default 20), then each query of the mix alone for $EACH seconds
# (default 5) for its own p99. Needs wrk and, for Postgres, pgbench (Debian).
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${1:-postgres}
N=${2:-100000}
DURATION=${DURATION:-20}
CLIENTS=16
ADMIN=${BENCH_ADMIN_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

cargo build --release --quiet
BIN=$PWD/target/release/ticketbooth
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tb-search.XXXXXX")
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT

case "$BACKEND" in
  postgres)
    DB_URL="${ADMIN%/*}/tb_bench_$N"
    DATA_DIR=/tmp/tb-bench-pg-$N
    have=$(psql "$DB_URL" -Atc "SELECT count(*) FROM tickets" 2>/dev/null || echo 0)
    if [ "$have" != "$N" ]; then
      psql "$ADMIN" -qc "DROP DATABASE IF EXISTS tb_bench_$N" -qc "CREATE DATABASE tb_bench_$N"
      rm -rf "$DATA_DIR"
      t0=$(date +%s.%N)
      RUST_LOG=warn "$BIN" seed --count "$N" --data-dir "$DATA_DIR" --database-url "$DB_URL"
      echo "seeded $N tickets in $(python3 -c "print(f'{$(date +%s.%N)-$t0:.0f}')") s"
    fi
    psql "$DB_URL" -qc "VACUUM ANALYZE"
    ;;
  sqlite)
    DATA_DIR=/tmp/tb-bench-sqlite-$N
    DB_URL="sqlite://$DATA_DIR/ticketbooth.db"
    if [ ! -f "$DATA_DIR/seeded-$N" ]; then
      rm -rf "$DATA_DIR"
      t0=$(date +%s.%N)
      RUST_LOG=warn "$BIN" seed --count "$N" --data-dir "$DATA_DIR"
      echo "seeded $N tickets in $(python3 -c "print(f'{$(date +%s.%N)-$t0:.0f}')") s"
      touch "$DATA_DIR/seeded-$N"
    fi
    ;;
  *) echo "backend: postgres or sqlite" >&2; exit 2 ;;
esac

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn "$BIN" serve --read-rate off --upload-rate off --dump-interval off --data-dir "$DATA_DIR" --database-url "$DB_URL" --listen "127.0.0.1:$PORT" &
SERVER=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done

# A cursor 50 pages deep.
deep="task=image-classification&sort=accuracy"
cursor=
for _ in $(seq 50); do
  cursor=$(curl -fsS "http://127.0.0.1:$PORT/api/v1/tickets?$deep${cursor:+&cursor=$cursor}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"] or "")')
done

# The mix: endpoint and query, one request of each in turn.
MIX=(
  "tickets task=image-classification"
  "tickets task=image-classification&dataset=cifar10&architecture=resnet20&sort=accuracy"
  "tickets task=image-classification&dataset=cifar10&min_sparsity=0.9&sort=accuracy"
  "tickets architecture=resnet50&min_accuracy=0.7&max_sparsity=0.95&sort=sparsity"
  "tickets q=wrn-28"
  "tickets $deep&cursor=$cursor"
  "facets task=image-classification&dataset=cifar10"
  "tasks "
)
{
  echo 'local paths = {'
  for entry in "${MIX[@]}"; do echo "  \"/api/v1/${entry%% *}?${entry#* }\","; done
  echo '}'
  echo 'local i = 0'
  echo 'request = function() i = i % #paths + 1; return wrk.format("GET", paths[i]) end'
} > "$WORK/mix.lua"

# Every request in the mix must succeed before it is timed.
for entry in "${MIX[@]}"; do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/api/v1/${entry%% *}?${entry#* }"
done

echo "HTTP (wrk, 16 connections), the mix: $(wrk -t2 -c"$CLIENTS" -d"${DURATION}s" --latency -s "$WORK/mix.lua" "http://127.0.0.1:$PORT" | python3 bench/wrk_summary.py)"

# Each query of the mix alone, for its own latency ($EACH seconds each, default 5; 0 skips).
EACH=${EACH:-5}
if [ "$EACH" != 0 ]; then
  for entry in "${MIX[@]}"; do
    path="/api/v1/${entry%% *}?${entry#* }"
    echo "  $(wrk -t2 -c"$CLIENTS" -d"${EACH}s" --latency "http://127.0.0.1:$PORT$path" | python3 bench/wrk_summary.py)  ${path:0:90}"
  done
fi

if [ "$BACKEND" = postgres ]; then
  i=0
  args=()
  for entry in "${MIX[@]}"; do
    i=$((i + 1))
    "$BIN" sql "${entry%% *}" "${entry#* }" > "$WORK/q$i.sql"
    args+=(-f "$WORK/q$i.sql")
  done
  (cd "$WORK" && pgbench -n -M prepared -c "$CLIENTS" -j 2 -T "$DURATION" -l "${args[@]}" "$DB_URL" > pgbench.txt 2>&1)
  python3 - "$WORK" <<'PY'
import glob, re, sys
work = sys.argv[1]
lat = []
for f in glob.glob(f"{work}/pgbench_log.*"):
    for line in open(f):
        lat.append(int(line.split()[2]) / 1000)
lat.sort()
text = open(f"{work}/pgbench.txt").read()
tps = float(re.search(r"tps = ([\d.]+)", text).group(1))
print(f"raw SQL (pgbench, 16 clients): {tps:.0f} tx/s, p50 {lat[len(lat)//2]:.2f} ms, p99 {lat[int(len(lat)*0.99)]:.2f} ms")
PY
fi
