"""Download into the cache: a second download makes no request; a cut download resumes with
Range; a corrupted cached file is detected and fetched again; offline mode."""
import hashlib
import http.server
import threading
import urllib.request

import numpy as np
import pytest
import requests

import ticketbooth

META = dict(task="image-classification", dataset="synthetic", architecture="mlp", pruning_method="imp", accuracy=0.5)


@pytest.fixture
def ticket(client, unique):
    rng = np.random.default_rng(3)
    tensors = {"a.weight": rng.standard_normal((256, 512)).astype(np.float32),   # 512 KiB
               "a.bias": np.zeros(256, np.float32)}
    return client.publish(tensors, name=unique, **META)


def count_requests(client):
    seen = []
    client.session.hooks["response"].append(lambda r, *a, **k: seen.append((r.request.method, r.url)))
    return seen


def no_network(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a request was made")
    monkeypatch.setattr(requests.Session, "request", refuse)
    monkeypatch.setattr(requests.Session, "send", refuse)


def test_second_download_comes_from_the_cache_with_no_request(client, ticket, cache_dir, monkeypatch):
    seen = count_requests(client)
    path = client.download(ticket.id)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == ticket.sha256
    assert path.is_relative_to(cache_dir) and path.name == f"{ticket.sha256}.safetensors"
    assert [m for m, _ in seen] == ["GET", "GET"]        # the ticket, then its file
    seen.clear()
    no_network(monkeypatch)
    assert client.download(ticket.id) == path
    assert client.download(ticket.ref) == path          # by owner/name too
    assert client.load(ticket.id, framework="numpy").info.id == ticket.id
    assert seen == []
    monkeypatch.undo()
    # The server counted the one download only.
    assert requests.get(f"{client.url}/api/v1/tickets/{ticket.id}").json()["downloads"] == 1


def test_same_content_is_stored_once(client, ticket, cache_dir, unique):
    twin = client.publish(client.download(ticket.id), name=unique + "-twin", **META)
    assert twin.sha256 == ticket.sha256
    seen = count_requests(client)
    assert client.download(twin.id) == client.download(ticket.id)
    assert [u for _, u in seen if u.endswith("/file")] == []      # found by sha256: no file request
    assert len(list((cache_dir / "blobs").glob("*.safetensors"))) == 1


class CuttingProxy:
    """Forwards GETs to the server; cuts the first full-file answer after `cut` bytes."""

    def __init__(self, upstream, cut):
        self.ranges = []
        self.cuts = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("range", "if-range", "authorization")}
                proxy.ranges.append(self.headers.get("Range"))
                req = urllib.request.Request(upstream + self.path, headers=headers)
                try:
                    resp = urllib.request.urlopen(req)
                except urllib.error.HTTPError as e:
                    resp = e
                body = resp.read()
                self.send_response(resp.status)
                for k, v in resp.headers.items():
                    if k.lower() not in ("transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.end_headers()
                if self.path.endswith("/file") and "Range" not in headers and proxy.cuts == 0:
                    proxy.cuts += 1
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_cut_download_resumes_with_range(client, ticket, cache_dir):
    proxy = CuttingProxy(client.url, cut=200_000)
    try:
        via = ticketbooth.Client(proxy.url, cache_dir=cache_dir)
        path = via.download(ticket.id)
    finally:
        proxy.close()
    assert proxy.cuts == 1
    resumed = [int(r[len("bytes="):-1]) for r in proxy.ranges if r]
    assert len(resumed) == 1 and 0 < resumed[0] <= 200_000    # from what had arrived, not from 0
    assert hashlib.sha256(path.read_bytes()).hexdigest() == ticket.sha256
    assert not list((cache_dir / "tmp").glob("*.part"))


def test_partial_file_left_by_an_earlier_process_is_resumed(client, ticket, cache_dir):
    full = requests.get(f"{client.url}/api/v1/tickets/{ticket.id}/file").content
    part = cache_dir / "tmp" / f"{ticket.sha256}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(full[:123_457])
    asked = []
    client.session.hooks["response"].append(lambda r, *a, **k: asked.append(r.request.headers.get("Range")))
    path = client.download(ticket.id)
    assert "bytes=123457-" in asked
    assert path.read_bytes() == full


def test_corrupted_cache_file_is_detected_and_fetched_again(client, ticket):
    path = client.download(ticket.id)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    seen = count_requests(client)
    again = client.download(ticket.id)
    assert any(u.endswith("/file") for _, u in seen)
    assert hashlib.sha256(again.read_bytes()).hexdigest() == ticket.sha256


def test_offline_answers_from_the_cache_only(client, ticket, unique, monkeypatch):
    other = client.publish({"w": np.ones((3, 3), np.float32)}, name=unique + "-uncached", **META)
    path = client.download(ticket.id)
    monkeypatch.setenv("TICKETBOOTH_OFFLINE", "1")
    no_network(monkeypatch)
    assert client.offline
    assert client.download(ticket.id) == path
    assert client.get(ticket.ref).sha256 == ticket.sha256
    assert client.load(ticket.id, framework="numpy").info.id == ticket.id
    with pytest.raises(ticketbooth.NotCached) as e:
        client.download(other.id)
    assert other.id in str(e.value) and "TICKETBOOTH_OFFLINE" in str(e.value)
    with pytest.raises(ticketbooth.NotCached):
        client.load(other.ref)
    with pytest.raises(ticketbooth.NotCached):
        next(client.search(task="image-classification"))


def test_concurrent_downloads_share_one_fetch(client, ticket, cache_dir):
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: ticketbooth.Client(client.url, cache_dir=cache_dir).download(ticket.id), range(4)))
    assert len(set(paths)) == 1
    assert hashlib.sha256(paths[0].read_bytes()).hexdigest() == ticket.sha256


def test_publish_and_download_stream_without_holding_the_file(client, unique, tmp_path):
    import tracemalloc

    from safetensors.numpy import save_file

    path = tmp_path / "big.safetensors"
    w = np.zeros((4096, 3072), np.float32)          # 48 MiB
    w[::7] = 1.0
    save_file({"w": w}, str(path))
    del w
    tracemalloc.start()
    try:
        info = client.publish(path, name=unique, **META)
        got = client.download(info.id)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got.stat().st_size == path.stat().st_size == info.size_bytes
    assert peak < 8 << 20, f"peak Python allocations {peak / 2**20:.1f} MiB for a 48 MiB file"


def test_two_processes_download_into_one_cache(client, ticket, cache_dir):
    import subprocess
    import sys

    code = ("import sys, ticketbooth; "
            "print(ticketbooth.Client(sys.argv[1], cache_dir=sys.argv[2]).download(sys.argv[3]))")
    procs = [subprocess.Popen([sys.executable, "-c", code, client.url, str(cache_dir), ticket.id],
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs[0] == outs[1]
    assert hashlib.sha256(open(outs[0], "rb").read()).hexdigest() == ticket.sha256
    assert not list((cache_dir / "tmp").glob("*.part"))
