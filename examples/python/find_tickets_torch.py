#!/usr/bin/env python3
"""Find real winning tickets with PyTorch on scikit-learn's digits and publish each one.

Iterative magnitude pruning with rewinding (Frankle et al. 2020): train the dense CNN for
--rewind-iteration steps and keep those weights (the rewind point); then at every level train
from the rewind point, prune 20% of the remaining conv and linear weights globally by magnitude
(torch.nn.utils.prune), and rewind the survivors. Every level is published with the package
(`client.publish`, the torch-prune layout of ticketbooth.export), its parent the level before.

Every level then runs the two controls for real, with the same recipe and batch order, and
reports them with `client.add_result`: the same masks from a fresh random init
(`random_reinit`), and a random mask at the same global sparsity from the rewind point
(`random_prune`, scope `global`, as the example prunes). The registry computes the verdict.

    python3 find_tickets_torch.py --quick                # 3 rounds, 5 epochs: seconds
    python3 find_tickets_torch.py --rounds 8
"""
import argparse
import json
import sys
import time

import ticketbooth
import lth_torch as L


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default=None, help="registry URL (default TICKETBOOTH_URL, or `ticketbooth login`)")
    ap.add_argument("--token", default=None, help="upload token (default TICKETBOOTH_TOKEN, or `ticketbooth login`)")
    ap.add_argument("--rounds", type=int, default=6, help="pruning rounds after the dense level")
    ap.add_argument("--fraction", type=float, default=0.2, help="share of the remaining weights pruned per round")
    ap.add_argument("--rewind-iteration", type=int, default=40, help="dense training steps before the rewind point")
    ap.add_argument("--seed", type=int, default=0, help="init and batch-order seed")
    ap.add_argument("--epochs", type=int, default=L.RECIPE["epochs"], help="epochs per training")
    ap.add_argument("--quick", action="store_true", help="3 rounds of 5 epochs; names start digits-cnn-imp-quick")
    ap.add_argument("--name", default=None, help="ticket name prefix (default digits-cnn-imp[-quick])")
    ap.add_argument("--report", default=None, help="write what was computed and published, as JSON")
    ap.add_argument("--controls", type=int, default=1, help="seeds of each control per level (0: none)")
    args = ap.parse_args()
    if args.quick:
        args.epochs = 5
        if "--rounds" not in sys.argv:
            args.rounds = 3
    prefix = args.name or ("digits-cnn-imp-quick" if args.quick else "digits-cnn-imp")
    recipe = dict(L.RECIPE, epochs=args.epochs)
    client = ticketbooth.Client(args.server, args.token)
    x, y, xt, yt = L.data(recipe)

    # The rewind point: the dense net after a few steps of training.
    dense = L.new_model(args.seed)
    L.train(dense, x, y, seed=args.seed, recipe=recipe, iterations=args.rewind_iteration)
    rewind = {k: v.clone() for k, v in dense.state_dict().items()}

    model = L.new_model(args.seed)           # holds the current masks
    for m, name in L.prunable(model):
        ticketbooth_identity(m, name)
    parent = None
    dense_acc = None
    report = []
    control_seconds = 0.0
    for level in range(args.rounds + 1):
        # The ticket: this level's masks, with the rewind-point weights.
        tensors = ticketbooth.export(model, weights=rewind)
        candidate = ticketbooth.Ticket(tensors).apply(L.DigitsCNN())
        L.train(candidate, x, y, seed=args.seed, recipe=recipe)
        acc = L.accuracy(candidate, xt, yt)
        dense_acc = acc if dense_acc is None else dense_acc
        sp = L.sparsity(candidate)
        info = client.publish(
            tensors, name=f"{prefix}-s{args.seed}-l{level}", task="image-classification", dataset="sklearn-digits",
            architecture=L.ARCHITECTURE, pruning_method="imp-rewind" if level else "dense", accuracy=acc,
            dense_accuracy=dense_acc, parent=parent, tags=["lth", "torch", "global"], license="CC0-1.0",
            description=f"IMP level {level} with rewinding to iteration {args.rewind_iteration}, "
                        f"{args.fraction:.0%} of the remaining weights pruned globally per round; "
                        f"{args.epochs} epochs per training, torch.nn.utils.prune.",
            hyperparameters=dict(recipe, seed=args.seed, level=level, prune_fraction=args.fraction, scope="global",
                                 rewind_iteration=args.rewind_iteration, framework="torch"))
        started = time.perf_counter()
        results = controls(model, rewind, tensors, (x, y, xt, yt), args, recipe)
        control_seconds += time.perf_counter() - started
        evidence = info.evidence
        for r in results:
            evidence = client.add_result(info, **r).evidence
        line = f"level {level}: sparsity {sp:.4f} (server measured {info.sparsity:.4f}), accuracy {acc:.4f}"
        for kind in ("random_reinit", "random_prune"):
            accs = [r["accuracy"] for r in results if r["kind"] == kind]
            if accs:
                line += f", {kind.replace('_', ' ')} {sum(accs) / len(accs):.4f}"
        if evidence is not None:
            line += f"; verdict {evidence.verdict}"
        print(f"{line} -> {client.url}/tickets/{info.id}", flush=True)
        report.append({"level": level, "id": info.id, "sparsity": sp, "accuracy": acc,
                       "parent_id": parent.id if parent else None, "controls": results,
                       "verdict": evidence.verdict if evidence else None})
        parent = info
        if level < args.rounds:
            # Prune the trained candidate, then carry its masks to the next level.
            L.prune_global(candidate, args.fraction)
            model = candidate
    print(f"controls: {control_seconds:.1f} s of training for {2 * args.controls * (args.rounds + 1)} runs", flush=True)
    if args.report:
        with open(args.report, "w") as f:
            json.dump({"levels": report, "control_seconds": control_seconds}, f, indent=1)


def controls(model, rewind, tensors, data, args, recipe):
    """The two controls at this level, trained for real with the ticket's recipe and batch order:
    the model's masks from a fresh init, and a random mask at the same global sparsity from the
    rewind point. As keyword arguments of client.add_result."""
    import torch

    x, y, xt, yt = data
    masks = ticketbooth.Ticket(tensors).masks
    out = []
    common = dict(dataset="sklearn-digits", steps=L.steps(len(x), recipe), framework="pytorch")
    # Controls must not move the global RNG the IMP loop sees (new_model seeds it).
    with torch.random.fork_rng(devices=[]):
        for i in range(args.controls):
            seed = args.seed + 1000 + i
            fresh = L.new_model(seed).state_dict()
            net = ticketbooth.Ticket(ticketbooth.export(model, weights=fresh)).apply(L.DigitsCNN())
            L.train(net, x, y, seed=args.seed, recipe=recipe)
            out.append(dict(common, kind="random_reinit", seed=seed, accuracy=L.accuracy(net, xt, yt),
                            notes=f"find_tickets_torch.py: the ticket's masks, weights from a fresh init (seed {seed})"))
            random = L.random_masks(masks, seed)
            shuffled = {k: v for k, v in tensors.items() if not k.endswith("_mask")}
            shuffled.update({f"{p}_mask": m for p, m in random.items()})
            net = ticketbooth.Ticket(shuffled).apply(L.DigitsCNN())
            assert abs(L.sparsity(net) - L.sparsity(ticketbooth.Ticket(tensors).apply(L.DigitsCNN()))) < 1e-12
            L.train(net, x, y, seed=args.seed, recipe=recipe)
            out.append(dict(common, kind="random_prune", seed=seed, scope="global", accuracy=L.accuracy(net, xt, yt),
                            notes=f"find_tickets_torch.py: a global random mask at the ticket's sparsity "
                                  f"(seed {seed}), the rewind-point weights"))
    return out


def ticketbooth_identity(module, name):
    """An all-ones mask, so the dense level is in the torch-prune layout like the others."""
    from torch.nn.utils import prune

    prune.identity(module, name)


if __name__ == "__main__":
    main()
