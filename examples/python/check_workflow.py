#!/usr/bin/env python3
"""The test command's end-to-end check of the Python workflows against a live registry, on the
ticketbooth package:
  - numpy (find_tickets.py): 2 rounds; the registry holds exactly what the script computed
    (tickets, lineage, measured sparsities 0, 0.2, 0.36, the random-reinit control), and
    reusing the last ticket retrains to the accuracy the registry reports (within 0.5 points);
  - torch (find_tickets_torch.py): 2 rounds of IMP with rewinding; the server's sparsity equals
    torch's count at every level, the levels form a chain, and reuse_ticket.py (client.load(...)
    .apply(model), retrain) gets the very same accuracy (same seed).

    python3 check_workflow.py URL TOKEN      -> 'workflow: N passed, M failed'
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import ticketbooth

URL, TOKEN = sys.argv[1].rstrip("/"), sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
client = ticketbooth.Client(URL, TOKEN, cache_dir=tempfile.mkdtemp())
ENV = dict(os.environ, TICKETBOOTH_URL=URL, TICKETBOOTH_TOKEN=TOKEN, TICKETBOOTH_CACHE=tempfile.mkdtemp(),
           TICKETBOOTH_DISABLE_PROGRESS_BARS="1")
passed = failed = 0


def check(ok, what):
    global passed, failed
    passed += bool(ok)
    failed += not ok
    if not ok:
        print("FAIL", what)


def run(script, *args):
    return subprocess.run([sys.executable, os.path.join(HERE, script), *args], capture_output=True, text=True, env=ENV)


def reuse(ticket_id, tolerance):
    r = run("reuse_ticket.py", ticket_id)
    check(r.returncode == 0, f"reuse_ticket.py {ticket_id} exits 0: {r.stderr[-500:]}")
    m = re.search(r"difference ([\d.]+) points", r.stdout)
    check(m is not None and float(m.group(1)) <= tolerance, f"retrained within {tolerance} points: {r.stdout.strip()}")


# numpy
report_path = os.path.join(tempfile.mkdtemp(), "report.json")
r = run("find_tickets.py", "--server", URL, "--token", TOKEN, "--rounds", "2", "--name", "ci", "--report", report_path)
check(r.returncode == 0, f"find_tickets.py exits 0: {r.stderr[-500:]}")
report = json.load(open(report_path))
check([x["level"] for x in report] == [0, 1, 2], "three tickets: dense and two rounds")
for want, x in zip([0.0, 0.2, 0.36], report):
    t = client.get(x["id"])
    check(abs(t.sparsity - x["sparsity"]) < 1e-12, f"level {x['level']}: server sparsity {t.sparsity} == script's {x['sparsity']}")
    check(abs(t.sparsity - want) < 1e-9, f"level {x['level']}: sparsity {t.sparsity} is {want}")
    check(t.parent_id == x["parent_id"], f"level {x['level']}: parent {t.parent_id}")
    check(abs(t.accuracy - x["accuracy"]) < 1e-12, f"level {x['level']}: accuracy as computed")
last = report[-1]
lineage = client.lineage(last["id"])
check([a.id for a in lineage.ancestors] == [report[1]["id"], report[0]["id"]], "lineage: ancestors nearest first")
check("random_reinit_accuracy" in (client.get(last["id"]).hyperparameters or {}), "the random-reinit control is recorded")
reuse(last["id"], 0.5)

# torch
report_path = os.path.join(tempfile.mkdtemp(), "report-torch.json")
r = run("find_tickets_torch.py", "--rounds", "2", "--epochs", "4", "--name", "ci-torch", "--report", report_path)
check(r.returncode == 0, f"find_tickets_torch.py exits 0: {r.stderr[-500:]}")
report = json.load(open(report_path)) if os.path.exists(report_path) else []
check([x["level"] for x in report] == [0, 1, 2], "torch: three levels")
for x in report:
    t = client.get(x["id"])
    check(abs(t.sparsity - x["sparsity"]) < 1e-12, f"torch level {x['level']}: server {t.sparsity} == torch's {x['sparsity']}")
    check(t.parent_id == x["parent_id"], f"torch level {x['level']}: parent {t.parent_id}")
check([round(x["sparsity"], 2) for x in report] == [0.0, 0.2, 0.36], f"torch: 20% per round: {[x['sparsity'] for x in report]}")
if report:
    reuse(report[-1]["id"], 0.0)
print(f"workflow: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
