"""Lottery tickets on scikit-learn's 8x8 digits, with numpy only: a LeNet-300-100-shaped MLP
(64-300-100-10), iterative magnitude pruning with rewinding to init, and the torch-prune file
layout (`*_orig` + `*_mask`). Shared by find_tickets.py and reuse_ticket.py, so a reused ticket
trains exactly as it did when it was found.
"""
import os

import numpy as np
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

# One BLAS thread. The matrices here are tiny (a 32x300 batch), so threads buy nothing, and on a
# busy machine they cost everything: OpenBLAS's threads spin-wait for each other, and with the
# cores taken by other work (a cargo build) one training went from 0.3 s to 14 s. Set
# OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS) to choose otherwise.
if not any(os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")):
    threadpool_limits(1)

LAYERS = [("fc1", 64, 300), ("fc2", 300, 100), ("fc3", 100, 10)]
# The training recipe. Stored in every ticket's hyperparameters, read back when reusing.
RECIPE = {"optimizer": "sgd-momentum", "lr": 0.05, "momentum": 0.9, "batch_size": 32,
          "epochs": 40, "split_seed": 0, "test_fraction": 0.3}


def data(recipe=RECIPE):
    """The digits, scaled to [0, 1], split train/test with a fixed seed."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(recipe["split_seed"]).permutation(len(x))
    n_test = int(len(x) * recipe["test_fraction"])
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def init(seed):
    """Kaiming-uniform weights (PyTorch's nn.Linear shape: [out, in]) and zero biases."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, fan_in, fan_out in LAYERS:
        bound = np.sqrt(6.0 / fan_in)
        params[f"{name}.weight"] = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)
        params[f"{name}.bias"] = np.zeros(fan_out, np.float32)
    return params


def full_masks():
    return {f"{name}.weight": np.ones((fan_out, fan_in), np.float32) for name, fan_in, fan_out in LAYERS}


def forward(params, masks, x):
    h = x
    cache = []
    for i, (name, _, _) in enumerate(LAYERS):
        w = params[f"{name}.weight"] * masks[f"{name}.weight"]
        z = h @ w.T + params[f"{name}.bias"]
        cache.append((h, z))
        h = np.maximum(z, 0) if i < len(LAYERS) - 1 else z
    return h, cache


def accuracy(params, masks, x, y):
    logits, _ = forward(params, masks, x)
    return float((logits.argmax(1) == y).mean())


def train(params, masks, x, y, seed, recipe=RECIPE):
    """Minibatch SGD with momentum on cross-entropy; pruned weights stay at zero."""
    params = {k: v.copy() for k, v in params.items()}
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    rng = np.random.default_rng(seed)
    n, bs = len(x), recipe["batch_size"]
    for _ in range(recipe["epochs"]):
        order = rng.permutation(n)
        for start in range(0, n, bs):
            idx = order[start:start + bs]
            logits, cache = forward(params, masks, x[idx])
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(idx)), y[idx]] -= 1
            grad = p / len(idx)
            for i in reversed(range(len(LAYERS))):
                name = LAYERS[i][0]
                h, z = cache[i]
                if i < len(LAYERS) - 1:
                    grad = grad * (z > 0)
                gw = grad.T @ h * masks[f"{name}.weight"]
                gb = grad.sum(0)
                grad = grad @ (params[f"{name}.weight"] * masks[f"{name}.weight"])
                for key, g in ((f"{name}.weight", gw), (f"{name}.bias", gb)):
                    velocity[key] = recipe["momentum"] * velocity[key] - recipe["lr"] * g
                    params[key] += velocity[key]
    return params


def prune(trained, masks, fraction=0.2, scope="global"):
    """Removes `fraction` of the remaining weights with the smallest trained magnitude."""
    masks = {k: m.copy() for k, m in masks.items()}
    if scope == "global":
        alive = np.concatenate([np.abs(trained[k][m > 0]) for k, m in masks.items()])
        k = int(round(len(alive) * fraction))
        threshold = np.sort(alive)[k - 1] if k > 0 else -1
        for key, m in masks.items():
            m[np.abs(trained[key]) <= threshold] = 0
    else:
        for key, m in masks.items():
            alive = np.abs(trained[key][m > 0])
            k = int(round(len(alive) * fraction))
            threshold = np.sort(alive)[k - 1] if k > 0 else -1
            m[np.abs(trained[key]) <= threshold] = 0
    return masks


def random_masks(masks, seed, scope="global"):
    """A random mask at the same sparsity as `masks` (the random-pruning control): with
    `layerwise`, each layer keeps as many weights as its mask does, chosen uniformly; with
    `global`, as many weights in all as the masks keep, chosen uniformly over every layer."""
    rng = np.random.default_rng(seed)
    out = {}
    if scope == "layerwise":
        for key, m in masks.items():
            flat = np.zeros(m.size, np.float32)
            flat[rng.choice(m.size, int(m.sum()), replace=False)] = 1
            out[key] = flat.reshape(m.shape)
        return out
    sizes = [m.size for m in masks.values()]
    flat = np.zeros(sum(sizes), np.float32)
    flat[rng.choice(len(flat), int(sum(m.sum() for m in masks.values())), replace=False)] = 1
    for (key, m), piece in zip(masks.items(), np.split(flat, np.cumsum(sizes)[:-1])):
        out[key] = piece.reshape(m.shape)
    return out


def steps(n, recipe=RECIPE):
    """Optimizer steps of one training on n examples."""
    return recipe["epochs"] * -(-n // recipe["batch_size"])


def sparsity(masks):
    total = sum(m.size for m in masks.values())
    kept = sum(int(m.sum()) for m in masks.values())
    return 1 - kept / total


def to_tensors(init_params, masks):
    """The torch.nn.utils.prune layout: weights at the rewind point (init) and their masks."""
    out = {}
    for name, _, _ in LAYERS:
        out[f"{name}.weight_orig"] = init_params[f"{name}.weight"]
        out[f"{name}.weight_mask"] = masks[f"{name}.weight"]
        out[f"{name}.bias"] = init_params[f"{name}.bias"]
    return out


def from_tensors(tensors):
    """Back from the file: init params and masks."""
    params, masks = {}, {}
    for name, _, _ in LAYERS:
        params[f"{name}.weight"] = tensors[f"{name}.weight_orig"]
        masks[f"{name}.weight"] = tensors[f"{name}.weight_mask"]
        params[f"{name}.bias"] = tensors[f"{name}.bias"]
    return params, masks
