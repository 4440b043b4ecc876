"""Tiny torch models and data for the tests (scikit-learn's digits when installed, else a
fixed synthetic problem)."""
import numpy as np


def digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        rng = np.random.default_rng(0)
        x = rng.random((600, 64), dtype=np.float32)
        y = (x[:, :10].argmax(1)).astype(np.int64)
        return x[:400], y[:400], x[400:], y[400:]
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    test, train = order[:500], order[500:]
    return x[train], y[train], x[test], y[test]


def mlp(torch, seed=0, hidden=32):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))


def cnn(torch, seed=0):
    torch.manual_seed(seed)
    nn = torch.nn
    return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
                         nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 64, 10))


def prune_global(torch, model, amount):
    from torch.nn.utils import prune

    params = [(m, "weight") for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)
    return params


def train(torch, model, data, seed=0, epochs=3):
    x, y, xt, yt = data
    x, y, xt, yt = map(torch.from_numpy, (x, y, xt, yt))
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        return float((model(xt).argmax(1) == yt).float().mean())
