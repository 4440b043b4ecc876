#!/usr/bin/env bash
# Issue 16: `compare` of two tickets of SIZE MiB (default 256) against numpy on the same files,
# and packed / partial download throughput beside the whole-file download, all from one local
# `ticketbooth serve` (release build) in the same run.
#   bash bench/masks.sh [SIZE_MIB] [ROUNDS]
# Uses the test venv of scripts/test.sh (or PY_VENV=...); see BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-256}
ROUNDS=${2:-3}
hash=$(sha256sum python/requirements-test.txt | cut -c1-12)
PY_VENV=${PY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/ticketbooth/test-venv-$hash}
[ -x "$PY_VENV/bin/python" ] || { echo "no venv at $PY_VENV: run scripts/test.sh once (or set PY_VENV)" >&2; exit 1; }
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/ticketbooth}
[ -x "$BIN" ] || { echo "no release binary at $BIN: cargo build --release" >&2; exit 1; }
WORK=$(mktemp -d)
PORT=${PORT:-18478}
"$BIN" serve --data-dir "$WORK/data" --listen "127.0.0.1:$PORT" --read-rate off --upload-rate off 2>"$WORK/serve.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
TOKEN=$("$BIN" token create --name bench --data-dir "$WORK/data")
echo "server: $BIN, tickets: $SIZE MiB each, $ROUNDS rounds, $(nproc) cores"
"$PY_VENV/bin/python" - "http://127.0.0.1:$PORT" "$TOKEN" "$WORK" "$SIZE" "$ROUNDS" "$SERVER" <<'PY'
import json, os, statistics, subprocess, sys, time
import numpy as np
from safetensors.numpy import load_file, save_file

url, token, work, size_mib, rounds, server_pid = sys.argv[1:7]
size_mib, rounds = int(size_mib), int(rounds)

def hwm():
    for line in open(f"/proc/{server_pid}/status"):
        if line.startswith(("VmHWM", "VmRSS")):
            yield line.split()[1]

# Three tickets in the torch.nn.utils.prune layout: one F32 weight and its F32 mask, half the
# file each, about 20% kept, different masks and weights (so every ordered pair is a new
# comparison for the server's cache). Written in a child process.
names = []
for i in range(3):
    path = os.path.join(work, f"t{i}.safetensors")
    subprocess.run([sys.executable, "-c", f"""
import numpy as np
from safetensors.numpy import save_file
n = {size_mib} << 17                  # entries: 4 bytes of weight + 4 of mask each
rows = 4096
rng = np.random.default_rng({i})
w = rng.standard_normal((rows, n // rows), dtype=np.float32)
m = (rng.random((rows, n // rows), dtype=np.float32) < 0.2).astype(np.float32)
save_file({{"fc.weight_orig": w, "fc.weight_mask": m}}, {path!r})
"""], check=True)
    meta = json.dumps({"name": f"t{i}", "task": "image-classification", "dataset": "synthetic",
                       "architecture": "wide", "pruning_method": "imp", "accuracy": 0.5})
    out = subprocess.run(["curl", "-sS", "-H", f"Authorization: Bearer {token}", "-F", f"metadata={meta}",
                          "-F", f"file=@{path}", f"{url}/api/v1/tickets"], check=True, capture_output=True)
    names.append((json.loads(out.stdout)["id"], path))
nbytes = os.path.getsize(names[0][1])
print(f"ticket file: {nbytes / 2**20:.1f} MiB")

def timed(cmd):
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True).stdout
    return time.perf_counter() - t, out

def numpy_compare(pa, pb):
    """The same figures as the server, with numpy: files read whole (from the page cache)."""
    a, b = load_file(pa), load_file(pb)
    ma, mb = a["fc.weight_mask"] != 0, b["fc.weight_mask"] != 0
    both = ma & mb
    same = np.count_nonzero(both & (np.signbit(a["fc.weight_orig"]) == np.signbit(b["fc.weight_orig"])))
    ka, kb, i = np.count_nonzero(ma), np.count_nonzero(mb), np.count_nonzero(both)
    return {"kept_a": int(ka), "kept_b": int(kb), "intersection": int(i), "same": int(same)}

pairs = [(0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1)][: max(rounds, 1) * 2]
server_s, numpy_s = [], []
for k, (x, y) in enumerate(pairs):
    (ia, pa), (ib, pb) = names[x], names[y]
    for p in (pa, pb):                                   # both in the page cache, for both sides
        subprocess.run(["cat", p], stdout=subprocess.DEVNULL, check=True)
    s, out = timed(["curl", "-sS", "-f", f"{url}/api/v1/compare?a={ia}&b={ib}"])
    got = json.loads(out)["overall"]
    t = time.perf_counter()
    ref = numpy_compare(pa, pb)
    n = time.perf_counter() - t
    assert (got["kept_a"], got["kept_b"], got["intersection"]) == (ref["kept_a"], ref["kept_b"], ref["intersection"])
    assert abs(got["sign_agreement"] - ref["same"] / ref["intersection"]) < 1e-12
    server_s.append(s)
    numpy_s.append(n)
cached, _ = timed(["curl", "-sS", "-f", f"{url}/api/v1/compare?a={names[0][0]}&b={names[1][0]}"])
peak = dict(zip(("VmHWM", "VmRSS"), hwm()))
mb = 2 * nbytes / 1e6
print(f"compare (server, cold), {len(server_s)} pairs: median {statistics.median(server_s):.3f} s "
      f"= {mb / statistics.median(server_s):.0f} MB/s of files read; runs {', '.join(f'{x:.3f}' for x in server_s)}")
print(f"numpy on the same files:        median {statistics.median(numpy_s):.3f} s "
      f"= {mb / statistics.median(numpy_s):.0f} MB/s; runs {', '.join(f'{x:.3f}' for x in numpy_s)}")
print(f"compare, cached answer: {cached * 1000:.1f} ms; server peak RSS {int(peak['VmHWM']) // 1024} MiB "
      f"(now {int(peak['VmRSS']) // 1024} MiB)")

# Downloads: the whole file, the masks part, the weights part, the packed form (alternating).
tid, path = names[0]
variants = {"whole file": f"/api/v1/tickets/{tid}/file", "part=masks": f"/api/v1/tickets/{tid}/file?part=masks",
            "part=weights": f"/api/v1/tickets/{tid}/file?part=weights", "packed": f"/api/v1/tickets/{tid}/packed"}
times = {k: [] for k in variants}
sizes = {}
subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)
for r in range(rounds):
    for k, p in variants.items():
        s, out = timed(["curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{size_download}", f"{url}{p}"])
        times[k].append(s)
        sizes[k] = int(out)
base = statistics.median(times["whole file"])
for k in variants:
    m = statistics.median(times[k])
    print(f"{k:13s} {sizes[k] / 2**20:8.1f} MiB  median {m:.3f} s = {sizes[k] / m / 1e6:6.0f} MB/s out, "
          f"{nbytes / m / 1e6:6.0f} MB/s of source; {base / m:.2f}x the whole file's time; "
          f"runs {', '.join(f'{x:.3f}' for x in times[k])}")
print(f"packed is {nbytes / sizes['packed']:.2f}x smaller than the stored file (masked layout, F32 masks, 20% kept)")

# A 90%-sparse F32 ticket in the zeros layout: the packed size ratio the issue asks for.
zpath = os.path.join(work, "zeros.safetensors")
subprocess.run([sys.executable, "-c", f"""
import numpy as np
from safetensors.numpy import save_file
n = {size_mib} << 18
rng = np.random.default_rng(7)
w = rng.standard_normal((4096, n // 4096), dtype=np.float32)
w[rng.random(w.shape, dtype=np.float32) < 0.9] = 0
save_file({{"fc.weight": w}}, {zpath!r})
"""], check=True)
meta = json.dumps({"name": "zeros", "task": "image-classification", "dataset": "synthetic",
                   "architecture": "wide", "pruning_method": "magnitude", "accuracy": 0.5})
out = subprocess.run(["curl", "-sS", "-H", f"Authorization: Bearer {token}", "-F", f"metadata={meta}",
                      "-F", f"file=@{zpath}", f"{url}/api/v1/tickets"], check=True, capture_output=True)
zid = json.loads(out.stdout)["id"]
zbytes = os.path.getsize(zpath)
zt = {"whole file": [], "packed": []}
zs = {}
for r in range(rounds):
    for k, p in (("whole file", f"/api/v1/tickets/{zid}/file"), ("packed", f"/api/v1/tickets/{zid}/packed")):
        s, out = timed(["curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{size_download}", f"{url}{p}"])
        zt[k].append(s)
        zs[k] = int(out)
for k in zt:
    m = statistics.median(zt[k])
    print(f"90%-sparse F32, zeros layout, {k:10s} {zs[k] / 2**20:7.1f} MiB  median {m:.3f} s; "
          f"runs {', '.join(f'{x:.3f}' for x in zt[k])}")
print(f"90%-sparse F32 zeros layout: packed is {zbytes / zs['packed']:.2f}x smaller ({zbytes} -> {zs['packed']} bytes)")
PY
