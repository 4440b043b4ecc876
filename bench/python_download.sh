#!/usr/bin/env bash
# client.download (the Python package) against curl, for one ticket of SIZE MiB (default 256),
# from a local `ticketbooth serve` (release build if present, else debug), in the same run.
#   bash bench/python_download.sh [SIZE_MIB] [ROUNDS]
# Uses the test venv of scripts/test.sh (or PY_VENV=...); see BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-256}
ROUNDS=${2:-5}
hash=$(sha256sum python/requirements-test.txt | cut -c1-12)
PY_VENV=${PY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ticketbooth/test-venv-$hash}
[ -x "$PY_VENV/bin/python" ] || { echo "no venv at $PY_VENV: run scripts/test.sh once (or set PY_VENV)" >&2; exit 1; }
"$PY_VENV/bin/pip" install -q --disable-pip-version-check --no-build-isolation --no-deps --force-reinstall ./python
rm -rf python/build python/src/*.egg-info
BIN=target/release/ticketbooth
[ -x "$BIN" ] || BIN=target/debug/ticketbooth
WORK=$(mktemp -d)
PORT=${PORT:-18477}
"$BIN" serve --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" --read-rate off --upload-rate off 2>"$WORK/serve.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
TOKEN=$("$BIN" token create --name bench --data-dir "$WORK/data")
echo "server: $BIN ($("$BIN" --version 2>/dev/null || echo ?)), ticket: $SIZE MiB, $ROUNDS rounds each, alternating"
TICKETBOOTH_DISABLE_PROGRESS_BARS=1 "$PY_VENV/bin/python" - "http://127.0.0.1:$PORT" "$TOKEN" "$WORK" "$SIZE" "$ROUNDS" <<'PY'
import hashlib, os, shutil, statistics, subprocess, sys, time
import ticketbooth

url, token, work, size_mib, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
src = os.path.join(work, "ticket.safetensors")
# Written by a child process, so this one's peak RSS says what publish and download hold.
subprocess.run([sys.executable, "-c", f"""
import numpy as np
from safetensors.numpy import save_file
n = {size_mib} << 18                      # F32 entries
side = int(n ** 0.5)
w = np.random.default_rng(0).standard_normal((side, n // side), dtype=np.float32)
w[:, : w.shape[1] * 8 // 10] = 0          # 80% zeros
save_file({{"w": w}}, {src!r})
"""], check=True)
nbytes = os.path.getsize(src)
import resource
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
client = ticketbooth.Client(url, token)
t = time.perf_counter()
info = client.publish(src, name="bench", task="image-classification", dataset="synthetic", architecture="dense",
                      pruning_method="magnitude", accuracy=0.5)
publish_s = time.perf_counter() - t
t = time.perf_counter()
subprocess.run(["curl", "-sS", "-o", "/dev/null", "-H", f"Authorization: Bearer {token}",
                "-F", 'metadata={"name":"bench-curl","task":"image-classification","dataset":"synthetic",'
                      '"architecture":"dense","pruning_method":"magnitude","accuracy":0.5}',
                "-F", f"file=@{src}", f"{url}/api/v1/tickets"], check=True)
curl_up_s = time.perf_counter() - t
file_url = f"{url}/api/v1/tickets/{info.id}/file"
times = {"curl": [], "curl + sha256sum": [], "client.download": []}
for r in range(rounds):
    out = os.path.join(work, "curl.out")
    t = time.perf_counter()
    subprocess.run(["curl", "-sS", "-o", out, file_url], check=True)
    times["curl"].append(time.perf_counter() - t)
    digest = subprocess.run(["sha256sum", out], check=True, capture_output=True, text=True).stdout.split()[0]
    times["curl + sha256sum"].append(time.perf_counter() - t)
    assert digest == info.sha256
    os.remove(out)
    cache = os.path.join(work, f"cache{r}")
    t = time.perf_counter()
    path = client.download(info.id, cache_dir=cache)
    times["client.download"].append(time.perf_counter() - t)
    assert path.stat().st_size == nbytes
    shutil.rmtree(cache)
print(f"ticket {nbytes / 2**20:.0f} MiB; upload once each: client.publish {publish_s:.2f} s "
      f"({nbytes / publish_s / 1e6:.0f} MB/s), curl -F {curl_up_s:.2f} s ({nbytes / curl_up_s / 1e6:.0f} MB/s)")
for k, v in times.items():
    med = statistics.median(v)
    print(f"{k:18s} median {med:.3f} s = {nbytes / med / 1e6:5.0f} MB/s   runs: " + ", ".join(f"{x:.3f}" for x in v))
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"this process's peak RSS: {rss0 / 1024:.0f} MiB before publishing, {rss / 1024:.0f} MiB after the publish "
      f"and all downloads (a {nbytes / 2**20:.0f} MiB file streams through)")
ratio = statistics.median(times["curl"]) / statistics.median(times["client.download"])
print(f"client.download / curl throughput: {ratio:.2f}x")
PY
