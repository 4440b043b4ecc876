#!/usr/bin/env bash
# What the defences of docs/reliability.md cost, each beside a baseline measured in the same run:
#   1. `ticketbooth verify` (re-hash every blob against the index) in MB/s, beside
#      `openssl dgst -sha256` (SHA-NI where the CPU has it) and coreutils `sha256sum` of the same
#      object files;
#   2. anonymous reads (GET /api/v1/tickets) in req/s with the per-address read limiter on (at a
#      rate never reached) beside the limiter off;
#   3. an over-limit client: how many 429s per second the server hands out, beside (2).
#
#   bash bench/reliability.sh [TOTAL_MIB]     (default 1024: 8 tickets of 128 MiB)
#
# Release build, loopback, SQLite + local store. DURATION seconds per wrk run (default 10).
# Needs curl, wrk (installed from Debian if missing), python3 with numpy + safetensors.
set -euo pipefail
cd "$(dirname "$0")/.."
TOTAL_MIB=${1:-1024}
DURATION=${DURATION:-10}
FILES=8
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tb-rel.XXXXXX")
SERVER=
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
BIN=target/release/ticketbooth
now() { date +%s.%N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # start DATA_DIR EXTRA_FLAGS...
  local dir=$1; shift
  PORT=$(free_port)
  RUST_LOG=warn "$BIN" serve --data-dir "$dir" --listen "127.0.0.1:$PORT" --upload-rate off "$@" &
  SERVER=$!
  for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
}
stop() { kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=; }

# 1. verify vs sha256sum.
python3 - "$WORK/in" "$FILES" "$(( TOTAL_MIB / FILES ))" <<'PY'
import os, sys, numpy as np
from safetensors.numpy import save_file
out, n, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out)
cols = 4096
rows = mib * (1 << 20) // (cols * 4)
for i in range(n):
    w = np.zeros((rows, cols), np.float32)
    w[:, i % 5::5] = 1.0 + i      # distinct content per file: no dedup
    save_file({"w": w}, f"{out}/t{i}.safetensors")
PY
start "$WORK/data" --read-rate off
TOKEN=$("$BIN" token create --name bench --data-dir "$WORK/data" 2>/dev/null)
for i in $(seq 0 $(( FILES - 1 ))); do
  curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" \
    -F "metadata={\"name\":\"t$i\",\"task\":\"bench\",\"dataset\":\"d\",\"architecture\":\"a\",\"pruning_method\":\"imp\",\"accuracy\":0.9}" \
    -F "file=@$WORK/in/t$i.safetensors" "http://127.0.0.1:$PORT/api/v1/tickets"
done
stop
BYTES=$(du -sb "$WORK/data/blobs" | cut -f1)
cat "$WORK"/data/blobs/objects/* > /dev/null    # both sides read from the page cache
t0=$(now); find "$WORK/data/blobs/objects" -type f -exec sha256sum {} + > /dev/null; t1=$(now)
find "$WORK/data/blobs/objects" -type f -exec openssl dgst -sha256 {} + > /dev/null; t2=$(now)
"$BIN" verify --data-dir "$WORK/data" > "$WORK/verify.out"
t3=$(now)
tail -n 1 "$WORK/verify.out"
python3 - "$BYTES" "$t0" "$t1" "$t2" "$t3" <<'PY'
import sys
b, t0, t1, t2, t3 = int(sys.argv[1]), *map(float, sys.argv[2:])
coreutils, openssl, ours = (b / 1e6 / d for d in (t1 - t0, t2 - t1, t3 - t2))
print(f"verify: {b / 2**20:.0f} MiB in {t3 - t2:.2f} s = {ours:.0f} MB/s; same files: "
      f"openssl dgst -sha256 {openssl:.0f} MB/s ({ours / openssl:.2f}x), sha256sum {coreutils:.0f} MB/s")
PY

# 2 and 3. Reads with the limiter off, on (never reached), and past it.
# req/s, and how many answers were not 2xx.
reqs() { wrk -t2 -c16 -d"${DURATION}s" "$1" | awk '/Requests\/sec/ {r=$2} /Non-2xx/ {n=$NF} END {printf "%s req/s (%d not 2xx)", r, n}'; }
URL_PATH="/api/v1/tickets?limit=20"
# Off and on alternate, three times each: the difference is smaller than run-to-run noise.
for round in 1 2 3; do
  start "$WORK/data" --read-rate off
  echo "round $round, reads, limiter off:          $(reqs "http://127.0.0.1:$PORT$URL_PATH")"; stop
  start "$WORK/data" --read-rate 100000000/1s
  echo "round $round, reads, limiter on (not hit): $(reqs "http://127.0.0.1:$PORT$URL_PATH")"; stop
done
start "$WORK/data" --read-rate 10/1h
echo "reads past the limit (429s):               $(reqs "http://127.0.0.1:$PORT$URL_PATH")"; stop
