"""Tickets for a model and similar tickets (docs/masks.md), against a live server: the
fingerprint computed client-side as the docs say, compatible() from a torch model, a state_dict
and a file's header, structure as numpy counts it, and similar() ranking a near duplicate first."""
import hashlib

import numpy as np
import pytest
from safetensors.numpy import save_file

FLOATS = {"float16", "float32", "float64"}


def fingerprint(tensors):
    """docs/masks.md's definition, written here from the docs, not from the server."""
    masks = {k for k in tensors if k.endswith("_mask")}
    lines = []
    for name, t in tensors.items():
        if name in masks or str(t.dtype) not in FLOATS or t.ndim < 2:
            continue
        base = name[:-5] if name.endswith("_orig") and name[:-5] + "_mask" in masks else name
        lines.append(f"{base}\t{','.join(map(str, t.shape))}\n")
    return hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()


def layer(seed, keep, arch_width):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((32, arch_width)).astype(np.float32)
    m = (rng.random((32, arch_width)) < keep).astype(np.float32)
    return w, m


def meta(architecture):
    return dict(task="image-classification", dataset="synthetic", architecture=architecture,
                pruning_method="imp", accuracy=0.5)


def test_compatible_from_a_model_a_state_dict_and_a_file(client, unique, torch, tmp_path):
    width = 1000 + (int(hashlib.sha256(unique.encode()).hexdigest(), 16) % 1000) * 4  # a shape of its own
    w, m = layer(1, 0.3, width)
    tensors = {"fc.weight_orig": w, "fc.weight_mask": m, "fc.bias": np.zeros(32, np.float32)}
    t = client.publish(tensors, name=unique, **meta("matching-" + unique))
    assert t.architecture_fingerprint == fingerprint(tensors)
    # A torch model of that shape, pruned the torch way: weight_orig + weight_mask.
    model = torch.nn.Sequential()
    model.add_module("fc", torch.nn.Linear(width, 32))
    import torch.nn.utils.prune as prune

    prune.l1_unstructured(model.fc, "weight", amount=0.5)
    fp, found = client.compatible(model)
    assert fp == t.architecture_fingerprint
    assert [x.id for x in found] == [t.id]
    # Its plain state_dict (unpruned) is the same network too.
    plain = torch.nn.Linear(width, 32).state_dict()
    fp2, _ = client.compatible({"fc." + k: v for k, v in plain.items()})
    assert fp2 == fp
    # A safetensors file: only its header is sent.
    path = tmp_path / "mine.safetensors"
    save_file({"fc.weight": w * m, "fc.bias": np.zeros(32, np.float32)}, str(path))
    fp3, found = client.compatible(path, limit=5)
    assert fp3 == fp and [x.id for x in found] == [t.id]
    other, _ = client.compatible({"fc.weight": np.zeros((32, width + 1), np.float32)})
    assert other != fp


def test_structure_is_what_numpy_counts(client, unique):
    rng = np.random.default_rng(3)
    keep = np.zeros((16, 64), np.float32)
    for r in range(16):
        for g in range(0, 64, 4):
            keep[r, g + rng.choice(4, size=2, replace=False)] = 1
    assert keep.reshape(16, 16, 4).sum(-1).max() == 2
    t = client.publish({"w_orig": rng.standard_normal((16, 64)).astype(np.float32), "w_mask": keep},
                       name=unique, **meta("structured-" + unique))
    assert t.structure == "2:4"
    row = next(x for x in client.get(t.id).tensors if x.name == "w_mask")
    assert row.extra["structure"]["last_axis"] == {"4": 2, "8": int(keep.reshape(16, 8, 8).sum(-1).max())}
    assert t.id in [x.id for x in client.search(structure="2:4", architecture="structured-" + unique)]


def test_similar_ranks_a_near_duplicate_first(client, unique):
    arch = "similar-" + unique
    w, m = layer(7, 0.5, 64)
    a = client.publish({"fc.weight_orig": w, "fc.weight_mask": m}, name=unique + "-a", **meta(arch))
    near_mask = m.copy()
    near_mask.flat[::97] = 1 - near_mask.flat[::97]  # a few entries flipped
    near = client.publish({"fc.weight": w * near_mask}, name=unique + "-near", **meta(arch))
    _, other = layer(8, 0.5, 64)
    rand = client.publish({"fc.weight_orig": w, "fc.weight_mask": other}, name=unique + "-rand", **meta(arch))
    found = client.similar(a, limit=10)
    ids = [x.id for x in found]
    assert ids.index(near.id) < ids.index(rand.id)
    true_j = ((m != 0) & (near_mask != 0)).sum() / ((m != 0) | (near_mask != 0)).sum()
    got = next(x.jaccard for x in found if x.id == near.id)
    assert abs(got - true_j) < 0.15, (got, true_j)
    assert client.similar(a, limit=1)[0].id == near.id
