#!/usr/bin/env bash
# Upload CPU per GiB before and after a change to the ingest path, in the same run: builds the
# release binary of BASE (a commit, default the one before the mask measurements: fingerprint,
# N:M structure, signature) and of the working tree, then uploads the same files to each in
# turn, 3 rounds, and reports the server's own CPU seconds (utime + stime from /proc) per GiB
# and the throughput, median of the rounds.
#
#   bash bench/ingest.sh [SIZE_MIB] [BASE]      (defaults: 1024, 0e2d9d6)
#
# Two files of SIZE_MIB each: the zeros layout (an F32 matrix, 80% zeros) and the
# torch.nn.utils.prune layout (weight_orig + an F32 0/1 mask, 90% pruned, half the bytes each).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
BASE=${2:-0e2d9d6}
RUNS=3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tb-ingest.XXXXXX")
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; git worktree remove --force "$WORK/base" 2>/dev/null; rm -rf "$WORK"' EXIT

cargo build --release --quiet
NEW=$PWD/target/release/ticketbooth
git worktree add --detach -q "$WORK/base" "$BASE"
(cd "$WORK/base" && CARGO_TARGET_DIR=${BASE_TARGET_DIR:-/tmp/tb-ingest-base-target} cargo build --release --quiet)
OLD=${BASE_TARGET_DIR:-/tmp/tb-ingest-base-target}/release/ticketbooth

python3 - "$WORK" "$SIZE_MIB" <<'PY'
import sys, numpy as np
from safetensors.numpy import save_file
work, mib = sys.argv[1], int(sys.argv[2])
cols = 16384
rows = mib * (1 << 20) // (cols * 4)
w = np.zeros((rows, cols), np.float32)
w[:, ::5] = 1.5
save_file({"w": w, "b": np.ones(cols, np.float32)}, f"{work}/zeros.safetensors")
rng = np.random.default_rng(0)
half = rows // 2
orig = rng.standard_normal((half, cols), dtype=np.float32)
mask = (rng.random((half, cols)) < 0.1).astype(np.float32)
save_file({"w_orig": orig, "w_mask": mask}, f"{work}/masked.safetensors")
PY

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
run() {  # BIN FILE -> "cpu_s_per_gib mb_per_s"
  local bin=$1 file=$2 port dir token t0 t1 c0 c1 bytes
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  dir=$(mktemp -d "$WORK/data.XXXXXX")
  RUST_LOG=warn "$bin" serve --read-rate off --upload-rate off --data-dir "$dir" --listen "127.0.0.1:$port" \
    $( "$bin" serve --help | grep -q -- --dump-interval && echo --dump-interval off ) &
  SERVER=$!
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  token=$("$bin" token create --name bench --data-dir "$dir")
  bytes=$(stat -c %s "$file")
  c0=$(cpu_ticks $SERVER); t0=$(date +%s.%N)
  curl -fsS -o /dev/null -H "Authorization: Bearer $token" \
    -F 'metadata={"name":"b","task":"t","dataset":"d","architecture":"a","pruning_method":"imp","accuracy":0.9}' \
    -F "file=@$file" "http://127.0.0.1:$port/api/v1/tickets"
  t1=$(date +%s.%N); c1=$(cpu_ticks $SERVER)
  kill $SERVER; wait $SERVER 2>/dev/null || true; SERVER=
  rm -rf "$dir"
  python3 -c "print(f'{($c1-$c0)/$HZ/($bytes/2**30):.3f} {$bytes/1e6/($t1-$t0):.0f}')"
}
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
for kind in zeros masked; do
  cat "$WORK/$kind.safetensors" >/dev/null
  declare -a oc=() ot=() nc=() nt=()
  for _ in $(seq $RUNS); do
    read -r c t < <(run "$OLD" "$WORK/$kind.safetensors"); oc+=("$c"); ot+=("$t")
    read -r c t < <(run "$NEW" "$WORK/$kind.safetensors"); nc+=("$c"); nt+=("$t")
  done
  printf '%-7s before (%s): %s CPU-s/GiB, %s MB/s   after: %s CPU-s/GiB, %s MB/s   (runs: before %s; after %s)\n' \
    "$kind" "$BASE" "$(median "${oc[@]}")" "$(median "${ot[@]}")" "$(median "${nc[@]}")" "$(median "${nt[@]}")" "${oc[*]}" "${nc[*]}"
done
