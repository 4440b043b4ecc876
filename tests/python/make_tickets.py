#!/usr/bin/env python3
"""Writes ticket files with the reference Python implementation (safetensors + numpy), and the
counts the registry should measure for them, computed here independently with numpy.

Usage: make_tickets.py OUTDIR   -> OUTDIR/*.safetensors and OUTDIR/expected.json
"""
import hashlib
import json
import struct
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

FLOATS = {"F16", "BF16", "F32", "F64", "F8_E4M3", "F8_E5M2"}


def torch_prune_style(rng):
    """What torch.nn.utils.prune leaves in a state_dict: P_orig, P_mask (float 0/1), biases."""
    t = {}
    for name, shape, keep in [("fc1", (300, 784), 0.2), ("fc2", (100, 300), 0.2), ("fc3", (10, 100), 0.5)]:
        t[f"{name}.weight_orig"] = rng.standard_normal(shape).astype(np.float32)
        t[f"{name}.weight_mask"] = (rng.random(shape) < keep).astype(np.float32)
        t[f"{name}.bias"] = rng.standard_normal(shape[0]).astype(np.float32)
    return t, {"format": "pt"}


def masked_weights(rng):
    """No masks: pruned entries are exact zeros (including -0.0), in half precision."""
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float16)
    w[rng.random(w.shape) < 0.9] = 0
    w.flat[:5] = -0.0
    fc = rng.standard_normal((10, 64)).astype(np.float64)
    fc[:, ::2] = 0
    meta = {"name": "conv-masked", "task": "image-classification", "dataset": "cifar10",
            "architecture": "conv-2", "pruning_method": "snip", "accuracy": "0.71",
            "tags": "snip,half", "hyperparameters": json.dumps({"lr": 0.1})}
    return {"conv.weight": w, "conv.bias": np.zeros(16, np.float32), "fc.weight": fc}, meta


def bool_and_int_masks(rng):
    w = rng.standard_normal((32, 32)).astype(np.float32)
    v = rng.standard_normal((8, 4)).astype(np.float64)
    return {
        "layer.weight": w,
        "layer.weight_mask": rng.random((32, 32)) < 0.05,
        "head_orig": v,
        "head_mask": (rng.random((8, 4)) < 0.5).astype(np.int8),
        "step": np.array([1000], dtype=np.int64),
    }, {}


def structured(rng):
    """2:4 along rows for a linear layer, 2:4 along input channels for a convolution (ASP)."""
    fc = rng.standard_normal((16, 32)).astype(np.float32)
    fc_keep = np.zeros((16, 32), np.float32)
    for g in range(0, 32, 4):
        for r in range(16):
            fc_keep[r, g + rng.choice(4, size=2, replace=False)] = 1
    conv = rng.standard_normal((8, 16, 3, 3)).astype(np.float32)
    conv_keep = np.zeros((8, 16, 3, 3), bool)
    for o in range(8):
        for g in range(0, 16, 4):
            for h in range(3):
                for w in range(3):
                    conv_keep[o, g + rng.choice(4, size=2, replace=False), h, w] = True
    return {"fc.weight_orig": fc, "fc.weight_mask": fc_keep,
            "conv.weight_orig": conv, "conv.weight_mask": conv_keep,
            "fc.bias": np.zeros(16, np.float32)}, {}


PATTERNS = [(1, 4), (2, 4), (4, 8)]


def group_max(rows, m):
    """The largest count of kept entries in any group of m along the rows; None if m does not
    divide the row length."""
    n, length = rows.shape
    if length == 0 or length % m:
        return None
    return int(rows.reshape(n, length // m, m).sum(-1).max()) if rows.size else 0


def structure(keep, shape):
    """docs/masks.md's N:M rule, computed independently with numpy."""
    rows = keep.reshape(shape[0], -1).astype(np.int64)
    last = {"4": group_max(rows, 4), "8": group_max(rows, 8)}
    out = {"last_axis": last}
    orders = [("last_axis", last)]
    if len(shape) == 4 and shape[1] % 4 == 0 and shape[2] * shape[3] > 1:
        cin = shape[1]
        by_channel = keep.reshape(shape).transpose(0, 2, 3, 1).reshape(-1, cin).astype(np.int64)
        inch = {"4": group_max(by_channel, 4), "8": group_max(by_channel, 8)}
        out["input_channel"] = inch
        orders.append(("input_channel", inch))
    out["pattern"], out["order"] = None, None
    for n, m in PATTERNS:
        held = [order for order, g in orders if g[str(m)] is not None and g[str(m)] <= n]
        if held:
            out["pattern"], out["order"] = f"{n}:{m}", held[0]
            break
    return out


def fingerprint(header):
    masks = {k for k in header if k.endswith("_mask")}
    lines = []
    for name, e in header.items():
        if name in masks or e["dtype"] not in FLOATS or len(e["shape"]) < 2:
            continue
        base = name[: -len("_orig")] if name.endswith("_orig") and name[: -len("_orig")] + "_mask" in masks else name
        lines.append(f"{base}\t{','.join(str(d) for d in e['shape'])}\n")
    return hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()


def expected(path):
    """The sparsity rule of TICKETS.md, computed from the file with numpy."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    data = raw[8 + n:]
    masks = any(k.endswith("_mask") for k in header)
    np_dtype = {"F16": np.uint16, "F32": np.uint32, "F64": np.uint64, "BOOL": np.uint8,
                "I8": np.uint8, "U8": np.uint8, "I64": np.uint64, "I32": np.uint32}
    rows = []
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        a, b = e["data_offsets"]
        words = np.frombuffer(data[a:b], dtype=np_dtype[e["dtype"]])
        if e["dtype"] in FLOATS:
            bits = words.dtype.itemsize * 8
            words = words & np.array((1 << (bits - 1)) - 1, dtype=words.dtype)  # drop the sign bit
        kept = int(np.count_nonzero(words))
        prunable = name.endswith("_mask") if masks else (e["dtype"] in FLOATS and len(e["shape"]) >= 2)
        row = {"name": name, "dtype": e["dtype"], "shape": e["shape"],
               "params": int(np.prod(e["shape"], dtype=np.int64)), "kept": kept, "prunable": prunable}
        if prunable:
            row["structure"] = structure(words != 0, e["shape"])
        rows.append(row)
    total = sum(r["params"] for r in rows if r["prunable"])
    kept = sum(r["kept"] for r in rows if r["prunable"])
    patterns = [r["structure"]["pattern"] for r in rows if r["prunable"]]
    ticket = next((f"{n}:{m}" for n, m in PATTERNS
                   if patterns and all(p is not None and PATTERNS.index(tuple(map(int, p.split(":")))) <= PATTERNS.index((n, m))
                                       for p in patterns)), "unstructured")
    return {"tensors": rows, "params_total": total, "params_kept": kept,
            "fingerprint": fingerprint(header), "structure": ticket}


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    result = {}
    for make in (torch_prune_style, masked_weights, bool_and_int_masks, structured):
        tensors, meta = make(rng)
        path = out / f"{make.__name__}.safetensors"
        save_file(tensors, str(path), metadata=meta or None)
        result[path.name] = expected(path)
    (out / "expected.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
