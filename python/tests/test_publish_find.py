"""Publish (a pruned module, a dict, a file; metadata from __metadata__), then search, frontier,
lineage; the config file `ticketbooth login` writes."""
import json
import os
import subprocess

import numpy as np
import pytest
import requests
from safetensors.numpy import save_file

import ticketbooth
from conftest import binary
from models import mlp, prune_global

META = dict(task="image-classification", dataset="sklearn-digits", architecture="mlp-64-32-10",
            pruning_method="imp")


def torch_count(torch, model):
    masks = [b for n, b in model.named_buffers() if n.endswith("_mask")]
    total = sum(m.numel() for m in masks)
    kept = sum(int(torch.count_nonzero(m)) for m in masks)
    return 1 - kept / total, total, kept


def test_publish_pruned_module_server_sparsity_is_torchs(client, torch, unique):
    model = mlp(torch)
    prune_global(torch, model, 0.37)
    want, total, kept = torch_count(torch, model)
    info = client.publish(model, name=unique, accuracy=0.5, **META)
    assert isinstance(info, ticketbooth.TicketInfo)
    assert (info.params_total, info.params_kept) == (total, kept)
    assert info.sparsity == pytest.approx(want, abs=1e-12)
    names = [t.name for t in info.tensors]
    assert "0.weight_orig" in names and "0.weight_mask" in names and "0.bias" in names
    # Dense zeros: the same sparsity, measured from the zeros alone.
    dz = client.publish(ticketbooth.export(model, mode="dense_zeros"), name=unique + "-dz", accuracy=0.5, **META)
    assert dz.sparsity == pytest.approx(want, abs=1e-12)
    assert not any(t.name.endswith("_mask") for t in dz.tensors)


def test_publish_dict_file_metadata_and_parent(client, tmp_path, unique):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((20, 10)).astype(np.float32)
    parent = client.publish({"fc.weight": w, "fc.bias": np.zeros(20, np.float32)}, name=unique, accuracy=0.9, **META)
    assert parent.sparsity == 0.0
    path = tmp_path / "t.safetensors"
    mask = (rng.random((20, 10)) < 0.25).astype(np.float32)
    save_file({"fc.weight_orig": w, "fc.weight_mask": mask}, str(path),
              metadata={"name": unique + "-l1", "accuracy": "0.875", **META})
    child = client.publish(path, parent=parent.ref, tags=["lth", "test"], hyperparameters={"lr": 0.1})
    assert child.name == unique + "-l1" and child.accuracy == 0.875   # from __metadata__
    assert child.parent_id == parent.id
    assert child.sparsity == pytest.approx(1 - mask.sum() / mask.size)
    assert child.hyperparameters == {"lr": 0.1} and child.tags == ["lth", "test"]
    grandchild = client.publish(path, name=unique + "-l2", parent=child)  # a TicketInfo as parent
    assert grandchild.parent_id == child.id
    assert client.get(child.id).to_json()["id"] == child.id
    assert client.get(child.ref) == client.get(child.id)


def test_search_follows_cursors_lazily(client, unique):
    rng = np.random.default_rng(1)
    ids = []
    for i in range(5):
        t = client.publish({"w": rng.standard_normal((4, 4)).astype(np.float32)}, name=f"{unique}-{i}",
                           accuracy=0.5 + i / 100, tags=[unique], **META)
        ids.append(t.id)
    pages = []
    client.session.hooks["response"].append(
        lambda r, *a, **k: pages.append(r.url) if "/api/v1/tickets?" in r.url else None)
    found = list(client.search(tag=unique, page_size=2))
    assert sorted(t.id for t in found) == sorted(ids)
    assert len(pages) == 3 and all("limit=2" in u for u in pages)
    assert sum("cursor=" in u for u in pages) == 2
    pages.clear()
    it = client.search(tag=unique, sort="accuracy", order="desc", limit=3, page_size=2)
    assert pages == []                       # lazy: nothing asked yet
    first = next(it)
    assert first.id == ids[-1] and len(pages) == 1
    rest = list(it)
    assert [t.id for t in [first] + rest] == ids[::-1][:3] and len(pages) == 2
    assert [t.id for t in client.search(tag=unique, min_accuracy=0.53, sort="accuracy", order="asc")] == ids[3:]
    assert all(t.tensors is None for t in found)      # list items omit the table
    with pytest.raises(ticketbooth.Invalid) as e:
        next(client.search(min_accuracy=97))
    assert e.value.field == "min_accuracy" and "did you mean 0.97?" in e.value.message


def test_frontier_and_lineage(client, unique):
    arch = f"arch-{unique}"
    rng = np.random.default_rng(2)
    chain = []
    for level, (keep, acc) in enumerate([(1.0, 0.90), (0.5, 0.92), (0.25, 0.91), (0.125, 0.80)]):
        w = rng.standard_normal((16, 16)).astype(np.float32)
        m = np.zeros(256, np.float32)
        m[: int(256 * keep)] = 1
        chain.append(client.publish({"w_orig": w, "w_mask": m.reshape(16, 16)}, name=f"{unique}-l{level}",
                                    accuracy=acc, parent=chain[-1] if chain else None,
                                    **dict(META, architecture=arch)))
    # A dominated ticket: as sparse as level 2, less accurate.
    client.publish({"w_orig": rng.standard_normal((16, 16)).astype(np.float32),
                    "w_mask": np.repeat([1.0, 0.0, 0.0, 0.0], 64).astype(np.float32).reshape(16, 16)},
                   name=f"{unique}-x", accuracy=0.5,
                   **dict(META, architecture=arch))
    front = client.frontier("image-classification", dataset="sklearn-digits", architecture=arch)
    assert [t.id for t in front] == [chain[1].id, chain[2].id, chain[3].id]
    lin = client.lineage(chain[2].ref)
    assert [t.id for t in lin.ancestors] == [chain[1].id, chain[0].id]
    assert [t.id for t in lin.children] == [chain[3].id]
    assert all(t.same_owner for t in lin.ancestors + lin.children)


def test_ticketinfo_keeps_unknown_fields():
    data = {"id": "x", "name": "n", "owner": "o", "task": "t", "dataset": "d", "architecture": "a",
            "pruning_method": "imp", "accuracy": 0.5, "sha256": "0" * 64, "size_bytes": 1, "sparsity": 0.5,
            "params_total": 2, "params_kept": 1, "created_at": "2026-01-01T00:00:00Z", "tags": [],
            "tensors": [{"name": "w", "dtype": "F32", "shape": [2], "params": 2, "kept": 1, "prunable": True,
                         "checksum": "new"}],
            "new_field": {"from": "a newer server"}}
    info = ticketbooth.TicketInfo.from_json(data)
    assert info.extra == {"new_field": {"from": "a newer server"}}
    assert info.tensors[0].extra == {"checksum": "new"}
    assert info.to_json()["new_field"] == {"from": "a newer server"}


def test_client_reads_the_cli_login_file(server, tmp_path, monkeypatch):
    url, token, _ = server
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("TICKETBOOTH_URL", raising=False)
    monkeypatch.delenv("TICKETBOOTH_TOKEN", raising=False)
    # The Rust CLI writes it.
    subprocess.run([str(binary()), "login", "--server", url + "/", "--token", token], check=True,
                   capture_output=True, env=dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config")))
    saved = json.loads((tmp_path / "config" / "ticketbooth" / "config.json").read_text())
    assert saved == {"server": url, "token": token}
    assert ticketbooth.config_path() == tmp_path / "config" / "ticketbooth" / "config.json"
    c = ticketbooth.Client()
    assert (c.url, c.token) == (url, token)
    monkeypatch.setenv("TICKETBOOTH_URL", "http://example.invalid:1")
    monkeypatch.setenv("TICKETBOOTH_TOKEN", "tb_env")
    c = ticketbooth.Client()
    assert (c.url, c.token) == ("http://example.invalid:1", "tb_env")
    assert ticketbooth.Client("http://x:2", "tb_arg").url == "http://x:2"
    monkeypatch.delenv("TICKETBOOTH_URL")
    monkeypatch.delenv("TICKETBOOTH_TOKEN")
    assert ticketbooth.Client(url).token == token
    assert ticketbooth.Client("http://another.example:1").token is None     # not sent to another server
