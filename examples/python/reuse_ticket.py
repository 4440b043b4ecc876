#!/usr/bin/env python3
"""Reuse a ticket from the registry with the ticketbooth package: `client.load` downloads it
into the local cache (sha256 verified; a second run makes no request), then the ticket is
retrained from its stored weights with its own recipe, and the accuracy printed beside the
registry's. With a token (TICKETBOOTH_TOKEN, or `ticketbooth login`) the run is reported to the
registry as a `reproduction` of the ticket (`client.add_result`), which counts toward its
evidence; `--no-report` only prints.

A torch ticket (find_tickets_torch.py) is put into a fresh CNN with `ticket.apply(model)`
(torch.nn.utils.prune masks + the rewind-point weights); a numpy one (find_tickets.py) is
retrained with numpy from `ticket.weights` and `ticket.masks`.

    python3 reuse_ticket.py TICKET_ID_OR_OWNER/NAME --server http://127.0.0.1:8080
"""
import argparse
import sys

import ticketbooth


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ticket", help="ticket id or owner/name")
    ap.add_argument("--server", default=None, help="registry URL (default TICKETBOOTH_URL, or `ticketbooth login`)")
    ap.add_argument("--seed", type=int, default=None, help="batch-order seed (default: the ticket's own)")
    ap.add_argument("--no-report", action="store_true", help="do not report the run as a reproduction")
    args = ap.parse_args()
    client = ticketbooth.Client(args.server)
    try:
        info = client.get(args.ticket)
    except ticketbooth.TicketboothError as e:
        sys.exit(f"no ticket {args.ticket}: {e}")
    hyper = info.hyperparameters or {}
    seed = hyper.get("seed", 0) if args.seed is None else args.seed

    if hyper.get("framework") == "torch":
        import lth_torch as L

        ticket = client.load(info.id)
        recipe = {k: hyper.get(k, v) for k, v in L.RECIPE.items()}
        x, y, xt, yt = L.data(recipe)
        model = ticket.apply(L.DigitsCNN())          # masks via torch.nn.utils.prune, weights copied
        L.train(model, x, y, seed=seed, recipe=recipe)
        acc = L.accuracy(model, xt, yt)
        framework, steps = "pytorch", L.steps(len(x), recipe)
    else:
        import lth

        ticket = client.load(info.id, framework="numpy")
        recipe = {k: hyper.get(k, v) for k, v in lth.RECIPE.items()}
        x_train, y_train, x_test, y_test = lth.data(recipe)
        trained = lth.train(ticket.weights, ticket.masks, x_train, y_train, seed=seed, recipe=recipe)
        acc = lth.accuracy(trained, ticket.masks, x_test, y_test)
        framework, steps = "numpy", lth.steps(len(x_train), recipe)
    print(f"ticket {info.ref}: sparsity {info.sparsity:.4f} (sha256 verified, cached at {ticket.path})")
    print(f"retrained accuracy {acc:.4f}; registry reports {info.accuracy:.4f} "
          f"(difference {abs(acc - info.accuracy) * 100:.2f} points)")
    if args.no_report:
        return
    if not client.token:
        print("not reported as a reproduction: no token (set TICKETBOOTH_TOKEN or run `ticketbooth login`)")
        return
    try:
        result = client.add_result(info, kind="reproduction", accuracy=acc, seed=seed, dataset=info.dataset,
                                   steps=steps, framework=framework,
                                   notes="reuse_ticket.py: client.load, retrained with the ticket's recorded recipe")
    except ticketbooth.Conflict:
        print(f"not reported: you already reported a reproduction of {info.ref} with seed {seed} (try --seed)")
        return
    except ticketbooth.TicketboothError as e:
        sys.exit(f"reporting the reproduction failed: {e}")
    ev = result.evidence
    print(f"reported as reproduction {result.id}: the ticket's verdict is {ev.verdict}, "
          f"{ev.reproductions} reproduction(s), {ev.reproductions_by_others} by others")


if __name__ == "__main__":
    main()
