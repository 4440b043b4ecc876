"""Lottery tickets on scikit-learn's 8x8 digits with PyTorch: a small CNN, training with a fixed
seed, and global magnitude pruning with torch.nn.utils.prune. Shared by find_tickets_torch.py
and reuse_ticket.py, so a reused ticket trains exactly as it did when it was found.
"""
import os

import torch
import torch.nn as nn
from torch.nn.utils import prune

import lth  # the same data split as the numpy example (and one BLAS thread)

# Tiny convolutions on 8x8 images: threads cost more than they bring. TORCH_NUM_THREADS overrides.
torch.set_num_threads(int(os.environ.get("TORCH_NUM_THREADS", "1")))

ARCHITECTURE = "cnn-digits-8-16-32"
# The training recipe, stored in every ticket's hyperparameters and read back when reusing.
RECIPE = {"optimizer": "sgd-momentum", "lr": 0.05, "momentum": 0.9, "batch_size": 32, "epochs": 15,
          "split_seed": 0, "test_fraction": 0.3}


class DigitsCNN(nn.Module):
    """1x8x8 -> conv 8 -> pool -> conv 16 -> pool -> fc 32 -> fc 10."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc1 = nn.Linear(16 * 2 * 2, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = x.view(-1, 1, 8, 8)
        x = nn.functional.max_pool2d(nn.functional.relu(self.conv1(x)), 2)
        x = nn.functional.max_pool2d(nn.functional.relu(self.conv2(x)), 2)
        return self.fc2(nn.functional.relu(self.fc1(x.flatten(1))))


def prunable(model):
    """The (module, "weight") pairs IMP prunes: every conv and linear weight."""
    return [(m, "weight") for m in (model.conv1, model.conv2, model.fc1, model.fc2)]


def data(recipe=RECIPE):
    """Tensors (x_train, y_train, x_test, y_test), the split of the numpy example."""
    return tuple(torch.from_numpy(a) for a in lth.data(recipe))


def new_model(seed):
    torch.manual_seed(seed)
    return DigitsCNN()


def train(model, x, y, seed, recipe=RECIPE, iterations=None):
    """SGD with momentum on cross-entropy, batches drawn by a generator seeded with `seed`;
    pruned weights stay zero (the prune hooks). Stops after `iterations` steps if given."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=recipe["lr"], momentum=recipe["momentum"])
    model.train()
    step = 0
    for _ in range(recipe["epochs"]):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), recipe["batch_size"]):
            if iterations is not None and step >= iterations:
                return model
            idx = order[i:i + recipe["batch_size"]]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
            step += 1
    return model


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def prune_global(model, fraction):
    """Removes `fraction` of the remaining conv and linear weights with the smallest magnitude,
    over all layers together (torch.nn.utils.prune counts the amount on what is left)."""
    prune.global_unstructured(prunable(model), pruning_method=prune.L1Unstructured, amount=fraction)


def random_masks(masks, seed):
    """A random mask at the same global sparsity as `masks` ({param: mask}): as many weights in
    all as they keep, chosen uniformly over every prunable layer (the control for global pruning)."""
    g = torch.Generator().manual_seed(seed)
    sizes = [m.numel() for m in masks.values()]
    kept = sum(int(m.sum()) for m in masks.values())
    flat = torch.zeros(sum(sizes))
    flat[torch.randperm(len(flat), generator=g)[:kept]] = 1
    return {p: piece.view_as(m).to(m.dtype) for (p, m), piece in zip(masks.items(), flat.split(sizes))}


def steps(n, recipe=RECIPE):
    """Optimizer steps of one training on n examples."""
    return recipe["epochs"] * -(-n // recipe["batch_size"])


def sparsity(model):
    """1 - kept / total over the masks, counted by torch."""
    masks = [m.weight_mask for m, _ in prunable(model)]
    return 1 - sum(int(m.sum()) for m in masks) / sum(m.numel() for m in masks)
