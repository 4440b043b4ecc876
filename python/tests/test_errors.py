"""Every error class, from a real server's answer (and a fake one for 5xx), plus the local
checks, which give the server's own messages before a byte is sent."""
import http.server
import json
import threading

import numpy as np
import pytest
import requests

import ticketbooth

META = dict(task="image-classification", dataset="synthetic", architecture="mlp", pruning_method="imp", accuracy=0.5)
W = {"w": np.ones((4, 4), np.float32)}


def server_error(client, **meta):
    """What the server itself answers to this metadata (raw multipart, no local checks)."""
    from safetensors.numpy import save

    r = requests.post(client.url + "/api/v1/tickets", headers={"Authorization": f"Bearer {client.token}"},
                      files={"metadata": (None, json.dumps(meta)), "file": ("t.safetensors", save(W))})
    return r.status_code, r.json()["error"]


def test_not_found(client):
    with pytest.raises(ticketbooth.NotFound) as e:
        client.get("01a00000-0000-7000-8000-000000000000")
    assert (e.value.status, e.value.code) == (404, "not_found")
    with pytest.raises(ticketbooth.NotFound):
        client.get("nobody/nothing")
    with pytest.raises(ticketbooth.NotFound):
        client.download("nobody/nothing")


def test_unauthorized(client, unique):
    bad = ticketbooth.Client(client.url, "tb_not_a_real_token", cache_dir=client.cache_dir)
    with pytest.raises(ticketbooth.Unauthorized) as e:
        bad.publish(W, name=unique, **META)
    assert (e.value.status, e.value.code) == (401, "unauthorized")
    with pytest.raises(ticketbooth.Unauthorized) as e:      # no token at all: said before sending
        ticketbooth.Client(client.url, cache_dir=client.cache_dir).publish(W, name=unique, **META)
    assert e.value.status is None


def test_forbidden_token_without_the_upload_scope(client, unique):
    r = requests.post(client.url + "/api/v1/tokens", headers={"Authorization": f"Bearer {client.token}"},
                      json={"label": "yank-only", "scopes": ["yank"]})
    assert r.status_code == 201, r.text
    yank_only = ticketbooth.Client(client.url, r.json()["token"], cache_dir=client.cache_dir)
    with pytest.raises(ticketbooth.Forbidden) as e:
        yank_only.publish(W, name=unique, **META)
    assert (e.value.status, e.value.code) == (403, "forbidden") and "upload" in e.value.message


def test_invalid_from_the_server(client, unique):
    with pytest.raises(ticketbooth.Invalid) as e:           # 400: a parameter the server refuses
        next(client.search(sort="bogus"))
    assert (e.value.status, e.value.code, e.value.field) == (400, "invalid_parameter", "sort")
    with pytest.raises(ticketbooth.Invalid) as e:           # 422: a parent that does not exist
        client.publish(W, name=unique, parent="01a00000-0000-7000-8000-000000000000", **META)
    assert e.value.status == 422 and e.value.field == "parent_id"
    assert isinstance(e.value, ValueError)


def test_local_checks_say_what_the_server_says(client, unique, tmp_path, torch):
    asked = []
    client.session.hooks["response"].append(lambda r, *a, **k: asked.append(r.url))
    cases = [dict(META, name=unique, accuracy=93.4), dict(META, name=unique, accuracy=-1), dict(META, name="Not A Slug!"),
             dict({k: v for k, v in META.items() if k != "task"}, name=unique)]
    for meta in cases:
        with pytest.raises(ticketbooth.Invalid) as e:
            client.publish(W, **meta)
        assert e.value.status is None                       # refused locally
        status, err = server_error(client, **meta)
        assert status == 422 and (e.value.code, e.value.field, e.value.message) == (err["code"], err["field"], err["message"])
    with pytest.raises(ticketbooth.Invalid) as e:
        client.publish(W, **dict(META, name=unique, taks="x"))
    assert e.value.field == "taks" and "did you mean 'task'?" in e.value.message
    status, err = server_error(client, **dict(META, name=unique, taks="x"))
    assert err["message"] == e.value.message
    # A file the server would refuse: a mask without its parameter; a torch.save pickle.
    from safetensors.numpy import save_file
    save_file({"w_mask": np.ones((2, 2), np.float32)}, str(tmp_path / "m.safetensors"))
    with pytest.raises(ticketbooth.Invalid) as e:
        client.publish(tmp_path / "m.safetensors", name=unique, **META)
    assert e.value.code == "invalid_safetensors" and "mask 'w_mask' has no parameter" in e.value.message
    torch.save({"w": torch.ones(3)}, tmp_path / "x.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(ticketbooth.Invalid) as e:
        client.publish(tmp_path / "x.pt", name=unique, **META)
    assert "looks like a Python pickle" in e.value.message and "safetensors.torch.save_file" in e.value.message
    torch.save({"w": torch.ones(3)}, tmp_path / "y.pt")
    with pytest.raises(ticketbooth.Invalid) as e:
        client.publish(tmp_path / "y.pt", name=unique, **META)
    assert "looks like a zip archive" in e.value.message
    assert asked == []


def test_a_header_length_that_starts_like_a_pickle_is_still_safetensors(client, unique, tmp_path):
    # A header of 0x280 bytes: its length prefix starts 80 02, like a pickle's opening bytes.
    import struct
    from safetensors.numpy import save_file
    for pad in range(64):
        save_file({"w": np.ones((4, 4), np.float32)}, str(tmp_path / "p.safetensors"), metadata={"pad": "x" * pad})
        with open(tmp_path / "p.safetensors", "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
        if n & 0xFF == 0x80:
            break
    else:
        raise AssertionError("no padding gave a header length ending in 0x80")
    assert client.publish(tmp_path / "p.safetensors", name=unique, **META).size_bytes > 0


def test_conflict_same_name_twice(client, unique):
    client.publish(W, name=unique, **META)
    with pytest.raises(ticketbooth.Conflict) as e:
        client.publish(W, name=unique, **META)
    assert (e.value.status, e.value.code) == (409, "conflict")


def test_rate_limited_and_too_large(limited, tmp_path):
    c = ticketbooth.Client(limited.url, limited.token("alice"), cache_dir=tmp_path)
    c.publish(W, name="first", **META)
    with pytest.raises(ticketbooth.RateLimited) as e:
        c.publish(W, name="second", **META)
    assert (e.value.status, e.value.code) == (429, "rate_limited")
    assert e.value.retry_after is not None and 0 < e.value.retry_after <= 3600
    big = ticketbooth.Client(limited.url, limited.token("bob"), cache_dir=tmp_path)
    with pytest.raises(ticketbooth.Invalid) as e:            # 413: over --max-upload-bytes
        big.publish({"w": np.ones((64, 64), np.float32)}, name="big", **META)
    assert e.value.status == 413 and e.value.code == "payload_too_large"


class FakeServer:
    """Answers every request with one status, a JSON error and maybe Retry-After."""

    def __init__(self, status, retry_after=None):
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                body = json.dumps({"error": {"code": "internal" if status == 500 else "unavailable",
                                             "message": "the fake says no", "field": None}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if retry_after:
                    self.send_header("Retry-After", str(retry_after))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("status,retry", [(500, None), (503, 7)])
def test_server_error(status, retry, tmp_path):
    fake = FakeServer(status, retry)
    try:
        with pytest.raises(ticketbooth.ServerError) as e:
            ticketbooth.Client(fake.url, cache_dir=tmp_path).get("anything")
    finally:
        fake.close()
    assert e.value.status == status and e.value.message == "the fake says no"
    assert e.value.retry_after == retry
    assert str(e.value) == f"the fake says no ({'internal' if status == 500 else 'unavailable'})"


def test_unreachable_server_is_a_server_error(tmp_path):
    from conftest import free_port
    with pytest.raises(ticketbooth.ServerError) as e:
        ticketbooth.Client(f"http://127.0.0.1:{free_port()}", cache_dir=tmp_path, timeout=2).get("x")
    assert e.value.code == "connection"
