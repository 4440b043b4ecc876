#!/usr/bin/env python3
"""The test command's end-to-end check of the Python workflow against a live registry: find
tickets for 2 rounds, then check the registry holds exactly what the script computed (tickets,
lineage, measured sparsities 0, 0.2, 0.36), and that reusing the last ticket retrains to the
accuracy the registry reports (within 0.5 points).

    python3 check_workflow.py URL TOKEN      -> 'workflow: N passed, M failed'
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import requests

URL, TOKEN = sys.argv[1].rstrip("/"), sys.argv[2]
HERE = os.path.dirname(os.path.abspath(__file__))
passed = failed = 0


def check(ok, what):
    global passed, failed
    passed += bool(ok)
    failed += not ok
    if not ok:
        print("FAIL", what)


report_path = os.path.join(tempfile.mkdtemp(), "report.json")
run = subprocess.run([sys.executable, os.path.join(HERE, "find_tickets.py"), "--server", URL, "--token", TOKEN,
                      "--rounds", "2", "--name", "ci", "--report", report_path], capture_output=True, text=True)
check(run.returncode == 0, f"find_tickets.py exits 0: {run.stderr[-500:]}")
report = json.load(open(report_path))
check([r["level"] for r in report] == [0, 1, 2], "three tickets: dense and two rounds")
for want, r in zip([0.0, 0.2, 0.36], report):
    t = requests.get(f"{URL}/api/v1/tickets/{r['id']}").json()
    check(abs(t["sparsity"] - r["sparsity"]) < 1e-12, f"level {r['level']}: server sparsity {t['sparsity']} == script's {r['sparsity']}")
    check(abs(t["sparsity"] - want) < 1e-9, f"level {r['level']}: sparsity {t['sparsity']} is {want}")
    check(t["parent_id"] == r["parent_id"], f"level {r['level']}: parent {t['parent_id']}")
    check(abs(t["accuracy"] - r["accuracy"]) < 1e-12, f"level {r['level']}: accuracy as computed")
last = report[-1]
lineage = requests.get(f"{URL}/api/v1/tickets/{last['id']}/lineage").json()
check([a["id"] for a in lineage["ancestors"]] == [report[1]["id"], report[0]["id"]], "lineage: ancestors nearest first")
t = requests.get(f"{URL}/api/v1/tickets/{last['id']}").json()
check("random_reinit_accuracy" in (t["hyperparameters"] or {}), "the random-reinit control is recorded")

reuse = subprocess.run([sys.executable, os.path.join(HERE, "reuse_ticket.py"), last["id"], "--server", URL],
                       capture_output=True, text=True)
check(reuse.returncode == 0, f"reuse_ticket.py exits 0: {reuse.stderr[-500:]}")
m = re.search(r"difference ([\d.]+) points", reuse.stdout)
check(m is not None and float(m.group(1)) <= 0.5, f"retrained within 0.5 points: {reuse.stdout.strip()}")
print(f"workflow: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
