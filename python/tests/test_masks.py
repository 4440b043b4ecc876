"""The mask as a first-class object: partial and packed downloads loaded back with the
safetensors package and checked against the source tensors (with Range and ETag), the packed
round trip through ticketbooth.unpack, and compare checked against numpy."""
import json

import numpy as np
import pytest
import requests
from safetensors.numpy import load, load_file

import ticketbooth

META = dict(task="image-classification", dataset="synthetic", architecture="mlp-masks",
            pruning_method="imp", accuracy=0.5)


def masked_tensors(seed, keep, rows=300, cols=200, mask_dtype=np.float32):
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((rows, cols)).astype(np.float32)
    m1 = (rng.random((rows, cols)) < keep).astype(mask_dtype)
    w2 = rng.standard_normal((10, rows)).astype(np.float32)
    m2 = (rng.random((10, rows)) < keep).astype(mask_dtype)
    return {"fc1.weight_orig": w1, "fc1.weight_mask": m1, "fc1.bias": rng.standard_normal(rows).astype(np.float32),
            "fc2.weight_orig": w2, "fc2.weight_mask": m2, "fc2.bias": np.zeros(10, np.float32)}


def zeros_layout(tensors):
    """The same network with the masks applied: pruned entries stored as zeros."""
    out = {}
    for name, t in tensors.items():
        if name.endswith("_mask"):
            continue
        if name.endswith("_orig"):
            base = name[: -len("_orig")]
            out[base] = (t * (tensors[base + "_mask"] != 0)).astype(t.dtype)
        else:
            out[name] = t
    return out


@pytest.fixture
def pair(client, unique):
    a = masked_tensors(1, 0.2)
    b = masked_tensors(2, 0.3)
    ta = client.publish(a, name=unique + "-a", **META)
    tb = client.publish(b, name=unique + "-b", **META)
    return (ta, a), (tb, b)


def expected_layers(a, b):
    """Per layer: (kept_a, kept_b, intersection, same-sign count, entries), with numpy."""
    def layers(t):
        out = {}
        for name, x in t.items():
            if name.endswith("_mask"):
                continue
            base = name[: -len("_orig")] if name.endswith("_orig") else name
            if x.ndim < 2 or x.dtype.kind != "f":
                continue
            mask = t[base + "_mask"] != 0 if base + "_mask" in t else x != 0
            out[base] = (mask, x)
        return out
    la, lb = layers(a), layers(b)
    rows = {}
    for name in la:
        (ma, wa), (mb, wb) = la[name], lb[name]
        both = ma & mb
        same = both & (np.signbit(wa) == np.signbit(wb))
        rows[name] = (int(ma.sum()), int(mb.sum()), int(both.sum()), int(same.sum()), ma.size)
    return rows


def check_figures(f, ka, kb, inter, same, n_expected_inter):
    union = ka + kb - inter
    assert (f["kept_a"], f["kept_b"], f["intersection"], f["union"]) == (ka, kb, inter, union)
    assert f["iou"] == pytest.approx(inter / union)
    assert f["expected_iou"] == pytest.approx(n_expected_inter / (ka + kb - n_expected_inter))
    assert f["sign_agreement"] == pytest.approx(same / inter)


def test_compare_matches_numpy_including_sign_agreement(client, pair, unique):
    (ta, a), (tb, b) = pair
    got = client.compare(ta, tb.ref)
    assert got["a"]["id"] == ta.id and got["b"]["id"] == tb.id
    assert got["a"]["fingerprint"] == got["b"]["fingerprint"]
    rows = expected_layers(a, b)
    assert [l["name"] for l in got["layers"]] == sorted(rows)
    tot = [0, 0, 0, 0]
    e_total = 0.0
    for layer in got["layers"]:
        ka, kb, inter, same, n = rows[layer["name"]]
        check_figures(layer, ka, kb, inter, same, ka * kb / n)
        tot = [x + y for x, y in zip(tot, (ka, kb, inter, same))]
        e_total += ka * kb / n
    check_figures(got["overall"], *tot, e_total)

    # The zeros layout of the same network has the same fingerprint and the same masks.
    tz = client.publish(zeros_layout(b), name=unique + "-z", **META)
    got_z = client.compare(ta, tz)
    assert got_z["a"]["fingerprint"] == got["a"]["fingerprint"]
    # Masked entries of b whose stored weight is exactly zero are not kept in the zeros layout;
    # random normals are never exactly zero, so the figures are the same.
    assert got_z["overall"]["intersection"] == got["overall"]["intersection"]
    assert got_z["overall"]["sign_agreement"] == pytest.approx(got["overall"]["sign_agreement"])

    # Another architecture: 422, saying how they differ.
    other = masked_tensors(3, 0.2, rows=301)
    to = client.publish(other, name=unique + "-o", **META)
    with pytest.raises(ticketbooth.Invalid) as e:
        client.compare(ta, to)
    assert e.value.status == 422 and e.value.code == "not_comparable"
    assert "fc1.weight [300,200]" in str(e.value) and "fc1.weight [301,200]" in str(e.value)


@pytest.mark.parametrize("kind", ["masks", "weights", "tensors"])
def test_partial_downloads_load_back_equal_with_range_and_etag(client, pair, kind):
    (ta, a), _ = pair
    want = {"masks": ["fc1.weight_mask", "fc2.weight_mask"],
            "weights": ["fc1.bias", "fc1.weight_orig", "fc2.bias", "fc2.weight_orig"],
            "tensors": ["fc2.bias", "fc1.weight_mask"]}[kind]
    kw = {"part": kind} if kind != "tensors" else {"tensors": want}
    path = client.download(ta, **kw)
    got = load_file(path)
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_array_equal(got[name], a[name])
    # A second call is answered from the cache (same ETag, same file).
    assert client.download(ta, **kw) == path

    url = f"{client.url}/api/v1/tickets/{ta.id}/file"
    params = {"part": kind} if kind != "tensors" else {"tensors": ",".join(want)}
    whole = requests.get(url, params=params)
    assert whole.content == path.read_bytes()
    etag = whole.headers["ETag"]
    assert etag != f'"{ta.sha256}"'
    r = requests.get(url, params=params, headers={"Range": "bytes=100-5000", "If-Range": etag})
    assert r.status_code == 206 and r.content == whole.content[100:5001]
    assert requests.get(url, params=params, headers={"If-None-Match": etag}).status_code == 304
    h = requests.head(url, params=params)
    assert h.headers["Content-Length"] == str(len(whole.content)) and h.headers["ETag"] == etag


def test_partial_refusals(client, pair):
    (ta, _), _ = pair
    with pytest.raises(ticketbooth.Invalid) as e:
        client.download(ta, tensors=["fc1.bias", "nope"])
    assert e.value.status == 400 and "'nope'" in str(e.value)
    with pytest.raises(ticketbooth.Invalid):
        client.download(ta, part="masks", tensors=["fc1.bias"])
    r = requests.get(f"{client.url}/api/v1/tickets/{ta.id}/file", params={"part": "masks", "tensors": "fc1.bias"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "part"


@pytest.mark.parametrize("mask_dtype", [np.float32, np.bool_, np.uint8])
def test_packed_round_trip_through_unpack(client, unique, mask_dtype):
    t = masked_tensors(5, 0.1, mask_dtype=mask_dtype)
    info = client.publish(t, name=f"{unique}-p", **META)
    path = client.download(info, packed=True)
    raw = load_file(path)
    assert raw["fc1.weight.bitmask"].dtype == np.uint8
    restored = ticketbooth.unpack(path)
    assert sorted(restored) == sorted(t)
    for name, x in t.items():
        y = restored[name]
        assert y.dtype == x.dtype and y.shape == x.shape, name
        if name.endswith("_orig"):
            keep = t[name[: -len("_orig")] + "_mask"] != 0
            np.testing.assert_array_equal(y[keep], x[keep])
            assert not y[~keep].any(), "pruned entries come back as zero"
        else:
            np.testing.assert_array_equal(y, x)
    # Range on the packed file.
    url = f"{client.url}/api/v1/tickets/{info.id}/packed"
    whole = path.read_bytes()
    etag = requests.head(url).headers["ETag"]
    r = requests.get(url, headers={"Range": "bytes=9000-", "If-Range": etag})
    assert r.status_code == 206 and r.content == whole[9000:]


def test_packed_zeros_layout_and_the_size_bound(client, unique):
    rng = np.random.default_rng(9)
    w = rng.standard_normal((512, 512)).astype(np.float32)
    w[rng.random(w.shape) < 0.9] = 0.0                      # 90% sparse, F32
    t = {"w": w, "b": rng.standard_normal(512).astype(np.float32)}
    info = client.publish(t, name=f"{unique}-zp", **META)
    path = client.download(info, packed=True)
    ratio = info.size_bytes / path.stat().st_size
    assert ratio >= 7.0, ratio
    restored = ticketbooth.unpack(path)
    np.testing.assert_array_equal(restored["w"], w)
    np.testing.assert_array_equal(restored["b"], t["b"])
    meta = json.loads(ticketbooth_meta(path)["ticketbooth.packed"])
    assert meta["params"]["w"]["mask"] is None and meta["params"]["w"]["shape"] == [512, 512]


def ticketbooth_meta(path):
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        return f.metadata()


def test_header_endpoint(client, pair):
    (ta, a), _ = pair
    h = requests.get(f"{client.url}/api/v1/tickets/{ta.id}/header").json()
    assert set(h["header"]) - {"__metadata__"} == set(a)
    assert [t["name"] for t in h["tensors"]] == [t.name for t in client.get(ta).tensors]
    with open(client.download(ta), "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        assert h["data_start"] == 8 + n
        assert json.loads(f.read(n)) == h["header"]
