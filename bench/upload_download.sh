#!/usr/bin/env bash
# Upload and download of a generated ticket over loopback, each beside its baseline measured in
# the same run on the same disk, with the server's own CPU time per GiB and its memory.
#
#   bash bench/upload_download.sh [SIZE_MIB]      (default 1024)
#
# Upload: `curl -F` to `ticketbooth serve` (every ingest feature on: framing cap, counting, the
# mask measurements, sha256, fsync) against `cp` + `sync` of the same file.
# Download: `curl` from `ticketbooth serve` against nginx with `sendfile on` serving the same
# blob file (same inode, so the same page-cache pages), both from the page cache.
# CPU: utime + stime of the server process (all threads), and of nginx's master and worker,
# from /proc, over the timed runs. Memory: VmRSS idle, and the peak (VmHWM, reset before each
# phase) during the uploads and during the downloads.
# Each throughput is the median of $RUNS runs (default 3), rounds alternating between the two
# sides. Needs: cargo, curl, nginx (installed from Debian if missing), python3 with numpy and
# safetensors.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
RUNS=${RUNS:-3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tb-bench.XXXXXX")
SERVER=
NGINX=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; [ -n "$NGINX" ] && kill $NGINX 2>/dev/null; rm -rf "$WORK"' EXIT
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }

now() { date +%s.%N; }
mbps() { python3 -c "print(f'{$1/1e6/($3-$2):.0f}')"; }
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
rss_kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
reset_peak() { echo 5 > "/proc/$1/clear_refs"; }
ticks() { local t=0 p; for p in "$@"; do t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat") )); done; echo $t; }
user_ticks() { awk '{print $14}' "/proc/$1/stat"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CLK=$(getconf CLK_TCK)

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
GIB=$(python3 -c "print($BYTES / 2**30)")

PORT=$(free_port)
RUST_LOG=warn "$BIN" serve --read-rate off --upload-rate off --dump-interval off \
  --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" &
SERVER=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
TOKEN=$("$BIN" token create --name bench --data-dir "$WORK/data" 2>/dev/null)
sleep 1
IDLE=$(rss_kib "$SERVER" VmRSS)

# Each round starts from the same state: dirty pages flushed, caches dropped (when allowed),
# the source file read back into the page cache.
settle() {
  sync
  if [ -w /proc/sys/vm/drop_caches ]; then echo 1 > /proc/sys/vm/drop_caches; fi
  cat "$FILE" > /dev/null
}

# --- upload ------------------------------------------------------------------------------
up_ticks=0; up_user=0
cp_runs=(); up_runs=(); ids=()
reset_peak "$SERVER"
for i in $(seq "$RUNS"); do
  settle
  t0=$(now); cp "$FILE" "$WORK/copy"; sync; t1=$(now)
  cp_runs+=("$(mbps "$BYTES" "$t0" "$t1")")
  rm -f "$WORK/copy"

  settle
  meta="{\"name\":\"bench-$i\",\"task\":\"image-classification\",\"dataset\":\"synthetic\",\"architecture\":\"dense-16k\",\"pruning_method\":\"magnitude\",\"accuracy\":0.5}"
  # Same bytes every run: runs 2 and 3 stream, hash and write in full, then drop their copy
  # as a duplicate, so every run does the same work.
  c0=$(ticks "$SERVER"); u0=$(user_ticks "$SERVER"); t0=$(now)
  out=$(curl -sS -f -H "Authorization: Bearer $TOKEN" -F "metadata=$meta" -F "file=@$FILE" "http://127.0.0.1:$PORT/api/v1/tickets")
  t1=$(now); up_ticks=$(( up_ticks + $(ticks "$SERVER") - c0 ))
  up_user=$(( up_user + $(user_ticks "$SERVER") - u0 ))
  up_runs+=("$(mbps "$BYTES" "$t0" "$t1")")
  ids+=("$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$out")")
done
UP_PEAK=$(rss_kib "$SERVER" VmHWM)

# --- download ----------------------------------------------------------------------------
BLOB=$(find "$WORK/data" -path '*objects/*' -type f | head -1)
mkdir -p "$WORK/www"
ln "$BLOB" "$WORK/www/ticket"
NPORT=$(free_port)
cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
user $(id -un);
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx-body; proxy_temp_path $WORK/nginx-proxy;
  fastcgi_temp_path $WORK/nginx-fcgi; uwsgi_temp_path $WORK/nginx-uwsgi; scgi_temp_path $WORK/nginx-scgi;
  sendfile on; tcp_nopush on;
  server { listen 127.0.0.1:$NPORT; root $WORK/www; }
}
NGINX
nginx -c "$WORK/nginx.conf" -g 'daemon off;' &
NGINX=$!
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$NPORT/ticket" 2>/dev/null && break; sleep 0.1; done
NGINX_PIDS=$(pgrep -f "nginx -c $WORK/nginx.conf" | tr '\n' ' '; pgrep -P "$NGINX" | tr '\n' ' ')
NGINX_PIDS=$(tr ' ' '\n' <<<"$NGINX_PIDS" | sort -u | tr '\n' ' ')

settle
# Both sides read from the page cache: one unmeasured download each brings the blob in.
curl -sS -f -o /dev/null "http://127.0.0.1:$PORT/api/v1/tickets/${ids[0]}/file"
curl -sS -f -o /dev/null "http://127.0.0.1:$NPORT/ticket"

reset_peak "$SERVER"
ng_runs=(); down_runs=(); down_ticks=0; ng_ticks=0
for i in $(seq "$RUNS"); do
  # shellcheck disable=SC2086
  c0=$(ticks $NGINX_PIDS); t0=$(now)
  curl -sS -f -o /dev/null "http://127.0.0.1:$NPORT/ticket"
  # shellcheck disable=SC2086
  t1=$(now); ng_ticks=$(( ng_ticks + $(ticks $NGINX_PIDS) - c0 ))
  ng_runs+=("$(mbps "$BYTES" "$t0" "$t1")")
  c0=$(ticks "$SERVER"); t0=$(now)
  curl -sS -f -o /dev/null "http://127.0.0.1:$PORT/api/v1/tickets/${ids[0]}/file"
  t1=$(now); down_ticks=$(( down_ticks + $(ticks "$SERVER") - c0 ))
  down_runs+=("$(mbps "$BYTES" "$t0" "$t1")")
done
DOWN_PEAK=$(rss_kib "$SERVER" VmHWM)

# The floor under the upload's CPU: sha256 alone over the same file from the page cache
# (OpenSSL through Python's hashlib, SHA-NI where the CPU has it), CPU seconds per GiB.
SHA_ALONE=$(python3 - "$FILE" <<'PY'
import hashlib, sys, time
h, t0 = hashlib.sha256(), time.process_time()
with open(sys.argv[1], "rb", buffering=0) as f:
    while chunk := f.read(1 << 20):
        h.update(chunk)
import os
print(f"{(time.process_time() - t0) / (os.path.getsize(sys.argv[1]) / 2**30):.2f}")
PY
)

up=$(median "${up_runs[@]}"); cpm=$(median "${cp_runs[@]}")
down=$(median "${down_runs[@]}"); ngm=$(median "${ng_runs[@]}")
per_gib() { python3 -c "print(f'{$1/$CLK/$RUNS/$GIB:.2f}')"; }
up_cpu=$(per_gib $up_ticks); up_usr=$(per_gib $up_user); up_sys=$(per_gib $((up_ticks - up_user))); down_cpu=$(per_gib $down_ticks); ng_cpu=$(per_gib $ng_ticks)
echo "file: $BYTES bytes; $RUNS runs each, median (all runs)"
echo "upload over loopback   : $up MB/s   (${up_runs[*]})"
echo "cp + sync baseline     : $cpm MB/s   (${cp_runs[*]})"
python3 -c "print(f'upload / cp ratio      : {$up/$cpm:.2f}x   (target >= 0.6x)')"
echo "server CPU per GiB up  : $up_cpu s   (user+sys, all threads; target <= 1.2)"
echo "  of which user / kernel: $up_usr s / $up_sys s"
echo "sha256 alone, per GiB  : $SHA_ALONE s   (OpenSSL, reading the file from the page cache)"
echo "download over loopback : $down MB/s   (${down_runs[*]})"
echo "nginx sendfile baseline: $ngm MB/s   (${ng_runs[*]})"
python3 -c "print(f'download / nginx ratio : {$down/$ngm:.2f}x   (target >= 0.8x)')"
echo "server CPU per GiB down: $down_cpu s   nginx: $ng_cpu s"
python3 -c "print(f'CPU ratio server/nginx : {$down_cpu/max($ng_cpu, 0.01):.1f}x   (target <= 2x)')"
echo "server RSS idle        : $((IDLE / 1024)) MiB"
echo "server RSS peak, upload: $((UP_PEAK / 1024)) MiB   (+$(( (UP_PEAK - IDLE) / 1024 )) MiB over idle)"
echo "server RSS peak, down  : $((DOWN_PEAK / 1024)) MiB   (+$(( (DOWN_PEAK - IDLE) / 1024 )) MiB over idle)"
