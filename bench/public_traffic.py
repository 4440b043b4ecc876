#!/usr/bin/env python3
"""The figures of docs/reliability.md's "Public traffic" section, measured against a running
registry (127.0.0.1 only; every loop is bounded). Usage: public_traffic.py URL TOKEN

Needs a registry with some tickets (bench/public_traffic.sh seeds ~400 and starts one). Prints
one line per figure:
  - a search with 200 `tag` values, and with 32: status and time;
  - /metrics size before and after 20,000 requests with made-up methods;
  - an upload whose description is 60,000 '>' (status and time, or if stored, each GET's time),
    and the GET time of a ticket whose description nests deep but within the cap;
  - the download count after 20 `Range: bytes=0-0` requests and 3 full GETs.
"""
import http.client
import json
import sys
import time
import urllib.parse

URL, TOKEN = sys.argv[1].rstrip("/"), sys.argv[2]
HOST = urllib.parse.urlparse(URL).netloc
assert HOST.startswith("127.0.0.1") or HOST.startswith("localhost"), "loopback only"


def request(method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(HOST, timeout=120)
    started = time.perf_counter()
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    took = time.perf_counter() - started
    conn.close()
    return r.status, data, took


def upload(name, description, seed):
    import numpy as np
    from safetensors.numpy import save
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((32, 32)).astype(np.float32)
    w[rng.random((32, 32)) < 0.8] = 0
    file = save({"fc.weight": w})
    meta = {"name": name, "task": "image-classification", "dataset": "cifar10", "architecture": "resnet20",
            "pruning_method": "imp", "accuracy": 0.9, "description": description}
    boundary = "BOUNDARYxyz"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n{json.dumps(meta)}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.safetensors\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + file + f"\r\n--{boundary}--\r\n".encode()
    return request("POST", "/api/v1/tickets", body, {
        "Authorization": f"Bearer {TOKEN}", "Content-Type": f"multipart/form-data; boundary={boundary}"})


for n in (200, 32):
    query = "&".join(f"tag=t{i}" for i in range(n))
    status, body, took = request("GET", f"/api/v1/tickets?{query}")
    print(f"search with {n} tags: {status} in {took * 1000:.1f} ms")

before = len(request("GET", "/metrics")[1])
started = time.perf_counter()
conn = http.client.HTTPConnection(HOST, timeout=30)
for i in range(20_000):
    conn.request(f"XM{i}", "/api/v1/tickets")
    conn.getresponse().read()
conn.close()
after = len(request("GET", "/metrics")[1])
print(f"/metrics: {before} bytes before, {after} bytes after 20,000 made-up methods "
      f"({time.perf_counter() - started:.1f} s)")

status, body, took = upload("pathological", ">" * 60_000, 1)
reply = json.loads(body)
if status == 201:
    gets = [request("GET", f"/api/v1/tickets/{reply['id']}")[2] for _ in range(3)]
    print(f"upload with a 60,000 '>' description: stored ({took * 1000:.0f} ms); "
          f"each GET of it: {', '.join(f'{g:.1f} s' for g in gets)}")
else:
    print(f"upload with a 60,000 '>' description: {status} in {took * 1000:.1f} ms: {reply['error']['message']}")
deep = "".join("> " * d + "- item\n" for d in range(1, 16))
status, body, took = upload("deep-but-allowed", deep, 2)
assert status == 201, body
ticket = json.loads(body)["id"]
times = []
for _ in range(21):
    status, _, took = request("GET", f"/api/v1/tickets/{ticket}")
    times.append(took)
times.sort()
print(f"GET of a ticket whose description nests 15 block quotes with a list: median {times[10] * 1000:.2f} ms "
      f"over 21, max {times[-1] * 1000:.2f} ms")

for _ in range(20):
    request("GET", f"/api/v1/tickets/{ticket}/file", headers={"Range": "bytes=0-0"})
for _ in range(3):
    request("GET", f"/api/v1/tickets/{ticket}/file")
downloads = json.loads(request("GET", f"/api/v1/tickets/{ticket}")[1])["downloads"]
print(f"downloads after 20 'Range: bytes=0-0' and 3 full GETs from one address: {downloads}")
