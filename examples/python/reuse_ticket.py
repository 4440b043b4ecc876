#!/usr/bin/env python3
"""Reuse a ticket from the registry: download it, verify its sha256, load it with
safetensors.numpy, apply the masks and retrain from the stored init with the ticket's own
recipe. Prints the accuracy beside the one the registry reports.

    python3 reuse_ticket.py TICKET_ID --server http://127.0.0.1:8080
"""
import argparse
import hashlib
import os
import sys

import requests
from safetensors.numpy import load

import lth


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ticket", help="ticket id")
    ap.add_argument("--server", default=os.environ.get("TICKETBOOTH_URL", "http://127.0.0.1:8080"))
    args = ap.parse_args()
    server = args.server.rstrip("/")

    meta = requests.get(f"{server}/api/v1/tickets/{args.ticket}", timeout=30)
    if meta.status_code != 200:
        sys.exit(f"no ticket {args.ticket}: {meta.json().get('error', {}).get('message', meta.status_code)}")
    ticket = meta.json()
    data = requests.get(f"{server}/api/v1/tickets/{args.ticket}/file", timeout=300).content
    digest = hashlib.sha256(data).hexdigest()
    if digest != ticket["sha256"]:
        sys.exit(f"sha256 mismatch: expected {ticket['sha256']}, got {digest}")

    params, masks = lth.from_tensors(load(data))
    hyper = ticket.get("hyperparameters") or {}
    recipe = {k: hyper.get(k, v) for k, v in lth.RECIPE.items()}
    x_train, y_train, x_test, y_test = lth.data(recipe)
    trained = lth.train(params, masks, x_train, y_train, seed=hyper.get("seed", 0), recipe=recipe)
    acc = lth.accuracy(trained, masks, x_test, y_test)
    print(f"ticket {ticket['owner']}/{ticket['name']}: sparsity {ticket['sparsity']:.4f} (sha256 verified)")
    print(f"retrained accuracy {acc:.4f}; registry reports {ticket['accuracy']:.4f} "
          f"(difference {abs(acc - ticket['accuracy']) * 100:.2f} points)")
    if "random_reinit_accuracy" in hyper:
        print(f"random-reinit control recorded at upload: {hyper['random_reinit_accuracy']:.4f}")


if __name__ == "__main__":
    main()
