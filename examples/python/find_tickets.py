#!/usr/bin/env python3
"""Find real winning tickets on scikit-learn's digits and publish them to a ticketbooth registry.

Iterative magnitude pruning with rewinding: train the dense net, prune 20% of the remaining
weights by magnitude, rewind the survivors to their initial values, retrain, repeat. Every
round's ticket is uploaded (torch-prune layout, with __metadata__), each round's parent being the
one before, so the registry draws the run as a curve. Uploads go through the ticketbooth
package (`client.publish`), which checks each file and its metadata before sending it.

Every level also runs the two controls that say whether the ticket wins (docs/evidence.md), with
the same recipe and batch order: the same mask from a fresh random init (`random_reinit`), and a
random mask at the same sparsity, chosen as the example prunes (`--scope`), from the ticket's own
init (`random_prune`). Both go up with the ticket, in the upload's `results` list, so the
registry's verdict (wins, no_better_than_controls, ...) is there from the start.

    python3 find_tickets.py --server http://127.0.0.1:8080 --token tb_... --rounds 8
    python3 find_tickets.py --quick      # 10 epochs per training instead of 40: demo data in seconds
"""
import argparse
import json
import os
import sys
import tempfile
import time

from safetensors.numpy import save_file

import ticketbooth

import lth


def upload(client, path, meta):
    """Publishes one round with the package: local checks first, the file streamed."""
    try:
        return client.publish(path, **meta)
    except ticketbooth.TicketboothError as e:
        sys.exit(f"upload of {meta['name']} failed: {e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default=None, help="registry URL (default TICKETBOOTH_URL, or `ticketbooth login`)")
    ap.add_argument("--token", default=None, help="upload token (default TICKETBOOTH_TOKEN, or `ticketbooth login`)")
    ap.add_argument("--rounds", type=int, default=8, help="pruning rounds after the dense run")
    ap.add_argument("--scope", choices=["global", "layerwise"], default="global")
    ap.add_argument("--fraction", type=float, default=0.2, help="share of the remaining weights pruned per round")
    ap.add_argument("--seed", type=int, default=0, help="init and batch-order seed")
    ap.add_argument("--epochs", type=int, default=lth.RECIPE["epochs"], help="epochs per training (the dense run, each round, the control)")
    ap.add_argument("--quick", action="store_true", help="10 epochs per training (same accuracy to within a point here), "
                    "and names starting digits-mlp-imp-quick")
    ap.add_argument("--name", default=None, help="ticket name prefix (default digits-mlp-imp, or digits-mlp-imp-quick with --quick)")
    ap.add_argument("--out", default=None, help="directory for the ticket files (default: a temp dir)")
    ap.add_argument("--report", default=None, help="write what was computed and uploaded, as JSON")
    ap.add_argument("--controls", type=int, default=1, help="seeds of each control per level (0: none)")
    args = ap.parse_args()
    client = ticketbooth.Client(args.server, args.token)
    if not client.token:
        sys.exit("no token: pass --token, set TICKETBOOTH_TOKEN or run `ticketbooth login` (ticketbooth token create --name you)")
    server = client.url
    if args.quick:
        args.epochs = 10
    name_prefix = args.name or ("digits-mlp-imp-quick" if args.quick else "digits-mlp-imp")
    # Stored in every ticket's hyperparameters: reuse_ticket.py retrains with exactly this.
    recipe = dict(lth.RECIPE, epochs=args.epochs)
    out = args.out or tempfile.mkdtemp(prefix="tickets-")
    os.makedirs(out, exist_ok=True)

    x_train, y_train, x_test, y_test = lth.data()
    init = lth.init(args.seed)
    masks = lth.full_masks()
    dense_acc = None
    parent = None
    report = []
    control_seconds = 0.0
    for level in range(args.rounds + 1):
        trained = lth.train(init, masks, x_train, y_train, seed=args.seed, recipe=recipe)
        acc = lth.accuracy(trained, masks, x_test, y_test)
        if dense_acc is None:
            dense_acc = acc
        hyper = dict(recipe, seed=args.seed, level=level, prune_fraction=args.fraction, scope=args.scope,
                     rewind="init", layers="64-300-100-10")
        started = time.perf_counter()
        results = controls(init, masks, (x_train, y_train, x_test, y_test), args, recipe)
        control_seconds += time.perf_counter() - started
        sp = lth.sparsity(masks)
        name = f"{name_prefix}-s{args.seed}-l{level}"
        meta = {"name": name, "task": "image-classification", "dataset": "sklearn-digits",
                "architecture": "mlp-64-300-100-10", "pruning_method": "imp" if level else "dense",
                "accuracy": acc, "dense_accuracy": dense_acc, "tags": ["lth", "numpy", args.scope],
                "description": f"IMP round {level} on scikit-learn digits: {args.fraction:.0%} of the remaining "
                               f"weights pruned per round ({args.scope}), survivors rewound to init; "
                               f"{args.epochs} epochs per training.",
                "hyperparameters": hyper, "license": "CC0-1.0", "results": results}
        parent_id = parent.id if parent else None
        path = os.path.join(out, f"{name}.safetensors")
        file_meta = {k: str(v) for k, v in meta.items() if k in ("name", "task", "dataset", "architecture", "pruning_method", "accuracy")}
        save_file(lth.to_tensors(init, masks), path, metadata=file_meta)
        ticket = upload(client, path, dict(meta, parent=parent))
        parent = ticket
        line = f"round {level}: sparsity {sp:.4f} (server measured {ticket.sparsity:.4f}), accuracy {acc:.4f}"
        for kind in ("random_reinit", "random_prune"):
            accs = [r["accuracy"] for r in results if r["kind"] == kind]
            if accs:
                line += f", {kind.replace('_', ' ')} {sum(accs) / len(accs):.4f}"
        if ticket.evidence is not None:
            line += f"; verdict {ticket.evidence.verdict}"
        print(f"{line} -> {server}/tickets/{ticket.id}", flush=True)
        report.append({"level": level, "id": ticket.id, "name": name, "sparsity": sp, "accuracy": acc,
                       "parent_id": parent_id, "controls": results,
                       "verdict": ticket.evidence.verdict if ticket.evidence else None})
        if level < args.rounds:
            masks = lth.prune(trained, masks, args.fraction, args.scope)
    print(f"controls: {control_seconds:.1f} s of training for {2 * args.controls * (args.rounds + 1)} runs", flush=True)
    if args.report:
        with open(args.report, "w") as f:
            json.dump({"levels": report, "control_seconds": control_seconds}, f, indent=1)


def controls(init, masks, data, args, recipe):
    """The two controls at this level, trained for real with the ticket's recipe and batch order:
    the same mask from a fresh init, and a random mask at the same sparsity (scope as the
    example prunes) from the ticket's init. As result dicts for the upload's `results`."""
    x_train, y_train, x_test, y_test = data
    out = []
    common = dict(dataset="sklearn-digits", steps=lth.steps(len(x_train), recipe), framework="numpy")
    for i in range(args.controls):
        seed = args.seed + 1000 + i
        reinit = lth.init(seed)
        trained = lth.train(reinit, masks, x_train, y_train, seed=args.seed, recipe=recipe)
        out.append(dict(common, kind="random_reinit", seed=seed, accuracy=lth.accuracy(trained, masks, x_test, y_test),
                        notes=f"find_tickets.py: the ticket's mask, weights from a fresh init (seed {seed})"))
        random = lth.random_masks(masks, seed, args.scope)
        trained = lth.train(init, random, x_train, y_train, seed=args.seed, recipe=recipe)
        out.append(dict(common, kind="random_prune", seed=seed, scope=args.scope,
                        accuracy=lth.accuracy(trained, random, x_test, y_test),
                        notes=f"find_tickets.py: a {args.scope} random mask at the ticket's sparsity "
                              f"(seed {seed}), the ticket's init"))
    return out


if __name__ == "__main__":
    main()
