#!/usr/bin/env bash
# Similar tickets at N tickets of one architecture fingerprint (Postgres): the latency of
# GET /tickets/{id}/similar beside a search page of the same fingerprint, in the same run, and
# how many of the exact top 10 (every signature ranked by numpy) the LSH bands found, for
# neighbours above a few Jaccard floors.
#
#   bash bench/similar.sh [N]      (default 100000)
#
# `ticketbooth seed` gives every synthetic ticket the same file (one fingerprint) and a signature
# of a nested random mask per IMP run, so a run's levels are alike and other runs are not.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
DURATION=${DURATION:-10}
ADMIN=${BENCH_ADMIN_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
BIN=$PWD/target/release/ticketbooth
DB_URL="${ADMIN%/*}/tb_bench_sim_$N"
DATA_DIR=/tmp/tb-bench-sim-$N
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null' EXIT
have=$(psql "$DB_URL" -Atc "SELECT count(*) FROM tickets" 2>/dev/null || echo 0)
if [ "$have" != "$N" ]; then
  psql "$ADMIN" -qc "DROP DATABASE IF EXISTS tb_bench_sim_$N" -qc "CREATE DATABASE tb_bench_sim_$N"
  rm -rf "$DATA_DIR"
  RUST_LOG=warn "$BIN" seed --count "$N" --data-dir "$DATA_DIR" --database-url "$DB_URL"
fi
psql "$DB_URL" -qc "VACUUM ANALYZE"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn "$BIN" serve --read-rate off --upload-rate off --dump-interval off \
  --data-dir "$DATA_DIR" --database-url "$DB_URL" --listen "127.0.0.1:$PORT" &
SERVER=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done

# Query tickets: 20 spread over the table, mid-run levels (so they have alike siblings).
IDS=$(psql "$DB_URL" -Atc "SELECT id FROM tickets WHERE name LIKE '%-l3' ORDER BY seq LIMIT 20 OFFSET 100")
FP=$(psql "$DB_URL" -Atc "SELECT architecture_fingerprint FROM tickets LIMIT 1")
echo "tickets with fingerprint ${FP:0:12}...: $(psql "$DB_URL" -Atc "SELECT count(*) FROM tickets WHERE architecture_fingerprint = '$FP'")"

python3 - "$DB_URL" "http://127.0.0.1:$PORT" $IDS <<'PY'
import subprocess, sys, json, urllib.request
import numpy as np
db, url, ids = sys.argv[1], sys.argv[2], sys.argv[3:]
rows = subprocess.run(["psql", db, "-Atc", "SELECT id, encode(mask_signature, 'hex') FROM tickets WHERE yanked = FALSE"],
                      capture_output=True, text=True, check=True).stdout.split()
names = [r.split("|")[0] for r in rows]
sigs = np.array([np.frombuffer(bytes.fromhex(r.split("|")[1]), dtype="<u4") for r in rows])
index = {n: i for i, n in enumerate(names)}
recalls = {0.8: [], 0.6: [], 0.5: []}
for q in ids:
    est = (sigs == sigs[index[q]]).mean(axis=1)
    est[index[q]] = -1
    top = np.argsort(-est, kind="stable")[:10]
    got = json.load(urllib.request.urlopen(f"{url}/api/v1/tickets/{q}/similar?limit=10"))["items"]
    got_ids = {t["id"] for t in got}
    for floor, found in recalls.items():
        exact = set(names[i] for i in top if est[i] >= floor)
        if exact:
            found.append(len(exact & got_ids) / len(exact))
for floor, found in recalls.items():
    print(f"recall of the exact top 10 with estimated Jaccard >= {floor}: {np.mean(found):.3f} over {len(found)} queries")
PY

lua=$(mktemp)
{
  echo 'local ids = {'; for id in $IDS; do echo "\"$id\","; done; echo '}'
  echo 'local i = 0'
  echo 'request = function() i = i % #ids + 1; return wrk.format("GET", "/api/v1/tickets/" .. ids[i] .. "/similar?limit=10") end'
} > "$lua"
report() { python3 bench/wrk_summary.py; }
printf '%-58s %s\n' "similar (20 tickets in turn, limit=10)" "$(wrk -t2 -c16 -d"${DURATION}s" --latency -s "$lua" "http://127.0.0.1:$PORT" | report)"
printf '%-58s %s\n' "baseline: tickets?fingerprint=FP&sort=accuracy&limit=10" "$(wrk -t2 -c16 -d"${DURATION}s" --latency "http://127.0.0.1:$PORT/api/v1/tickets?fingerprint=$FP&sort=accuracy&limit=10" | report)"
rm -f "$lua"
