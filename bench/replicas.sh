#!/usr/bin/env bash
# Scale-out figures, each beside its baseline in the same run:
#   1. search requests/s from one replica, and from two replicas behind nginx (same Postgres);
#   2. upload MB/s into an S3-compatible bucket (moto's server, from PyPI) beside the local store;
#   3. download MB/s streamed through the server beside a 302 to a presigned URL.
#
#   bash bench/replicas.sh          (needs a seeded tb_bench_100000: bash bench/search.sh postgres 100000)
#
# Everything runs on the same 2 cores; moto is a Python server, so figure 2 measures it too.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-20}
SIZE_MIB=${SIZE_MIB:-256}
ADMIN=${BENCH_ADMIN_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
DB_URL="${ADMIN%/*}/tb_bench_100000"
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }
cargo build --release --quiet
BIN=$PWD/target/release/ticketbooth
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tb-replicas.XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do curl -fsS "$1/healthz" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }
now() { date +%s.%N; }
mbps() { python3 -c "print(f'{$1/1e6/($3-$2):.0f}')"; }

# --- 1. one replica vs two behind nginx -------------------------------------------------------
P1=$(port); P2=$(port); PN=$(port)
for p in $P1 $P2; do
  RUST_LOG=warn "$BIN" serve --read-rate off --upload-rate off --database-url "$DB_URL" --data-dir "$WORK/data-$p" --listen "127.0.0.1:$p" &
  PIDS+=($!)
done
wait_up "http://127.0.0.1:$P1"; wait_up "http://127.0.0.1:$P2"
cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx-body; proxy_temp_path $WORK/nginx-proxy;
  fastcgi_temp_path $WORK/nginx-fcgi; uwsgi_temp_path $WORK/nginx-uwsgi; scgi_temp_path $WORK/nginx-scgi;
  upstream ticketbooth { least_conn; server 127.0.0.1:$P1; server 127.0.0.1:$P2; keepalive 32; }
  server {
    listen 127.0.0.1:$PN;
    location / { proxy_pass http://ticketbooth; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
nginx -c "$WORK/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
wait_up "http://127.0.0.1:$PN"
cat > "$WORK/mix.lua" <<'LUA'
local paths = {
  "/api/v1/tickets?task=image-classification",
  "/api/v1/tickets?task=image-classification&dataset=cifar10&architecture=resnet20&sort=accuracy",
  "/api/v1/tickets?task=image-classification&dataset=cifar10&min_sparsity=0.9&sort=accuracy",
  "/api/v1/tickets?architecture=resnet50&min_accuracy=0.7&max_sparsity=0.95&sort=sparsity",
  "/api/v1/tickets?q=wrn-28",
  "/api/v1/facets?task=image-classification&dataset=cifar10",
  "/api/v1/tasks",
}
local i = 0
request = function() i = i % #paths + 1; return wrk.format("GET", paths[i]) end
LUA
rate() { wrk -t2 -c16 -d"${DURATION}s" --latency -s "$WORK/mix.lua" "$1" | awk '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print r " req/s, p50 " p50 ", p99 " p99}'; }
echo "search, one replica         : $(rate "http://127.0.0.1:$P1")"
echo "search, two behind nginx    : $(rate "http://127.0.0.1:$PN")"

# --- 2 and 3. S3 (moto) vs local -------------------------------------------------------------
PM=$(port)
python3 -m moto.server -H 127.0.0.1 -p "$PM" >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PM/" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS -X PUT "http://127.0.0.1:$PM/bench" >/dev/null
export AWS_ENDPOINT_URL="http://127.0.0.1:$PM" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
PL=$(port); PS=$(port)
RUST_LOG=warn "$BIN" serve --read-rate off --upload-rate off --data-dir "$WORK/local" --listen "127.0.0.1:$PL" & PIDS+=($!)
RUST_LOG=warn "$BIN" serve --read-rate off --upload-rate off --data-dir "$WORK/s3" --blob-store s3://bench/t --download-redirect --listen "127.0.0.1:$PS" & PIDS+=($!)
wait_up "http://127.0.0.1:$PL"; wait_up "http://127.0.0.1:$PS"
TL=$("$BIN" token create --name bench --data-dir "$WORK/local" 2>/dev/null)
TS=$("$BIN" token create --name bench --data-dir "$WORK/s3" 2>/dev/null)
python3 - "$WORK/t.safetensors" "$SIZE_MIB" <<'PY'
import sys, numpy as np
from safetensors.numpy import save_file
cols = 4096; rows = int(sys.argv[2]) * (1 << 20) // (cols * 4)
w = np.zeros((rows, cols), np.float32); w[:, ::5] = 1.5
save_file({"w": w}, sys.argv[1])
PY
BYTES=$(stat -c %s "$WORK/t.safetensors")
up() { # URL TOKEN NAME -> prints MB/s, records the id
  local t0 t1 out
  t0=$(now)
  out=$(curl -fsS -H "Authorization: Bearer $2" -F "metadata={\"name\":\"$3\",\"task\":\"t\",\"dataset\":\"d\",\"architecture\":\"a\",\"pruning_method\":\"magnitude\",\"accuracy\":0.5}" -F "file=@$WORK/t.safetensors" "$1/api/v1/tickets")
  t1=$(now)
  echo "$(mbps "$BYTES" "$t0" "$t1") $(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$out")"
}
read -r L1 IDL < <(up "http://127.0.0.1:$PL" "$TL" l1); read -r S1 IDS < <(up "http://127.0.0.1:$PS" "$TS" s1)
read -r L2 _ < <(up "http://127.0.0.1:$PL" "$TL" l2); read -r S2 _ < <(up "http://127.0.0.1:$PS" "$TS" s2)
echo "upload ${SIZE_MIB} MiB, local file store: $L1 $L2 MB/s"
echo "upload ${SIZE_MIB} MiB, S3 (moto)       : $S1 $S2 MB/s"
down() { local t0 t1; t0=$(now); curl -fsS -o /dev/null "$@"; t1=$(now); mbps "$BYTES" "$t0" "$t1"; }
echo "download, local store through server : $(down "http://127.0.0.1:$PL/api/v1/tickets/$IDL/file") $(down "http://127.0.0.1:$PL/api/v1/tickets/$IDL/file") MB/s"
# A second server on the same index and bucket, without --download-redirect: bytes stream through.
PT=$(port)
RUST_LOG=warn "$BIN" serve --read-rate off --upload-rate off --data-dir "$WORK/s3" --blob-store s3://bench/t --listen "127.0.0.1:$PT" & PIDS+=($!)
wait_up "http://127.0.0.1:$PT"
echo "download, S3 streamed through server : $(down "http://127.0.0.1:$PT/api/v1/tickets/$IDS/file") $(down "http://127.0.0.1:$PT/api/v1/tickets/$IDS/file") MB/s"
echo "download, S3 via 302 to presigned URL: $(down -L "http://127.0.0.1:$PS/api/v1/tickets/$IDS/file") $(down -L "http://127.0.0.1:$PS/api/v1/tickets/$IDS/file") MB/s"
