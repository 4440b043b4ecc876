#!/usr/bin/env bash
# Upload and download throughput of a generated 1 GiB ticket over loopback, each beside a
# baseline measured in the same run on the same disk, and the server's peak RSS during upload.
#
#   bash bench/upload_download.sh [SIZE_MIB]      (default 1024)
#
# Baselines: upload vs `cp` + `sync` of the same file (the server fsyncs each blob before it
# acknowledges); download vs `cat` of the same file from the page cache to /dev/null.
# Each figure is the median of 3 runs. Needs: cargo, curl, python3 with numpy + safetensors.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
RUNS=3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tb-bench.XXXXXX")
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

now() { date +%s.%N; }
mbps() { python3 -c "import sys; print(f'{$1/1e6/($3-$2):.0f}')"; }
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
rss_kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

if [ -z "${BIN:-}" ]; then cargo build --release --quiet; BIN=target/release/ticketbooth; fi

FILE="$WORK/ticket.safetensors"
python3 - "$FILE" "$SIZE_MIB" <<'PY'
import sys, numpy as np
from safetensors.numpy import save_file
path, mib = sys.argv[1], int(sys.argv[2])
cols = 16384
rows = mib * (1 << 20) // (cols * 4)
w = np.zeros((rows, cols), np.float32)
w[:, ::5] = 1.5          # 80% of weights pruned
save_file({"w": w, "b": np.ones(cols, np.float32)}, path)
PY
BYTES=$(stat -c %s "$FILE")
cat "$FILE" > /dev/null   # both sides read the source from the page cache

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn "$BIN" serve --read-rate off --upload-rate off --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" &
SERVER=$!
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
TOKEN=$("$BIN" token create --name bench --data-dir "$WORK/data" 2>/dev/null)
IDLE=$(rss_kib "$SERVER" VmRSS)

# Each run starts from the same state: dirty pages flushed, caches dropped (when allowed),
# the source file read back into the page cache. cp and upload runs alternate.
settle() {
  sync
  if [ -w /proc/sys/vm/drop_caches ]; then echo 1 > /proc/sys/vm/drop_caches; fi
  cat "$FILE" > /dev/null
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK=$(getconf CLK_TCK)
up_ticks=0
cp_runs=(); up_runs=(); ids=()
for i in $(seq $RUNS); do
  settle
  t0=$(now); cp "$FILE" "$WORK/copy"; sync; t1=$(now)
  cp_runs+=("$(mbps "$BYTES" "$t0" "$t1")")
  rm -f "$WORK/copy"

  settle
  meta="{\"name\":\"bench-$i\",\"task\":\"image-classification\",\"dataset\":\"synthetic\",\"architecture\":\"dense-16k\",\"pruning_method\":\"magnitude\",\"accuracy\":0.5}"
  # Same bytes every run: runs 2 and 3 stream, hash and write in full, then drop their copy
  # as a duplicate, so every run does the same work.
  c0=$(cpu_ticks "$SERVER")
  t0=$(now)
  out=$(curl -sS -f -H "Authorization: Bearer $TOKEN" -F "metadata=$meta" -F "file=@$FILE" "http://127.0.0.1:$PORT/api/v1/tickets")
  t1=$(now)
  up_ticks=$(( up_ticks + $(cpu_ticks "$SERVER") - c0 ))
  up_runs+=("$(mbps "$BYTES" "$t0" "$t1")")
  ids+=("$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$out")")
done
PEAK=$(rss_kib "$SERVER" VmHWM)
settle
# Both sides read from the page cache: one unmeasured download brings the blob in.
curl -sS -f -o /dev/null "http://127.0.0.1:$PORT/api/v1/tickets/${ids[0]}/file"

cat_runs=(); down_runs=()
for i in $(seq $RUNS); do
  t0=$(now); cat "$FILE" > /dev/null; t1=$(now)
  cat_runs+=("$(mbps "$BYTES" "$t0" "$t1")")
  t0=$(now); curl -sS -f -o /dev/null "http://127.0.0.1:$PORT/api/v1/tickets/${ids[0]}/file"; t1=$(now)
  down_runs+=("$(mbps "$BYTES" "$t0" "$t1")")
done

up=$(median "${up_runs[@]}"); cpm=$(median "${cp_runs[@]}")
down=$(median "${down_runs[@]}"); catm=$(median "${cat_runs[@]}")
echo "file: $BYTES bytes; $RUNS runs each, median (all runs)"
echo "upload over loopback : $up MB/s   (${up_runs[*]})"
echo "cp + sync baseline   : $cpm MB/s   (${cp_runs[*]})"
python3 -c "print(f'upload / cp ratio    : {$up/$cpm:.2f}x   (target >= 0.7x)')"
python3 -c "print(f'server CPU per upload: {$up_ticks/$CLK/$RUNS:.2f} s (user+sys, all threads; wall {$BYTES/1e6/$up:.2f} s)')"
echo "server RSS idle      : $((IDLE / 1024)) MiB"
echo "server RSS peak      : $((PEAK / 1024)) MiB   (+$(( (PEAK - IDLE) / 1024 )) MiB over idle; target < 64)"
echo "download over loopback: $down MB/s  (${down_runs[*]})"
echo "cat page-cache baseline: $catm MB/s (${cat_runs[*]})"
