#!/usr/bin/env python3
"""The test command's end-to-end check of the Python workflows against a live registry, on the
ticketbooth package:
  - numpy (find_tickets.py): 2 rounds; the registry holds exactly what the script computed
    (tickets, lineage, measured sparsities 0, 0.2, 0.36), and reusing the last ticket retrains
    to the accuracy the registry reports (within 0.5 points);
  - torch (find_tickets_torch.py): 2 rounds of IMP with rewinding; the server's sparsity equals
    torch's count at every level, the levels form a chain, and reuse_ticket.py (client.load(...)
    .apply(model), retrain) gets the very same accuracy (same seed);
  - evidence, in both: every level carries both controls the script trained (random_reinit and
    a random_prune of the script's scope), with the script's accuracies, and a verdict other
    than unverified, whose statistics and margin follow from them; the reuse is reported as a
    reproduction with the accuracy it printed. The verdicts per level are printed.

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
    # The retraining is reported as a reproduction, with the accuracy printed, and counted.
    m = re.search(r"retrained accuracy ([\d.]+)", r.stdout)
    repro = [x for x in client.results(ticket_id) if x.kind == "reproduction"]
    check(len(repro) == 1 and m is not None and abs(repro[0].accuracy - float(m.group(1))) <= 5e-5,
          f"reuse reported one reproduction with the accuracy it printed: {[x.accuracy for x in repro]}, {r.stdout.strip()}")
    ev = client.get(ticket_id).evidence
    check(ev is not None and ev.reproductions == 1 and ev.ticket is not None and ev.ticket.n == 2,
          f"the reproduction counts in the evidence: {ev}")
    check("reported as reproduction" in r.stdout, f"reuse_ticket.py says it reported: {r.stdout.strip()}")


VERDICTS = {"below_dense", "no_better_than_controls", "wins"}


def check_evidence(label, x, scope):
    """The level's two controls are stored as the script trained them, and the verdict follows."""
    t = client.get(x["id"])
    results = client.results(x["id"])
    for kind in ("random_reinit", "random_prune"):
        mine = [c for c in x["controls"] if c["kind"] == kind]
        got = [r for r in results if r.kind == kind]
        check(len(mine) >= 1 and [r.accuracy for r in got] == [c["accuracy"] for c in mine],
              f"{label}: {kind} stored as trained: {[r.accuracy for r in got]} vs {[c['accuracy'] for c in mine]}")
        check(all(r.owner == t.owner and r.seed is not None and r.steps for r in got), f"{label}: {kind} fields")
        stats = getattr(t.evidence, kind) if t.evidence else None
        if mine:
            mean = sum(c["accuracy"] for c in mine) / len(mine)
            check(stats is not None and stats.n == len(mine) and abs(stats.mean - mean) < 1e-9,
                  f"{label}: evidence.{kind} {stats} is the controls' mean {mean}")
    check(all(r.scope == scope for r in results if r.kind == "random_prune"), f"{label}: random_prune scope {scope}")
    ev = t.evidence
    check(ev is not None and ev.verdict in VERDICTS, f"{label}: a verdict other than unverified: {ev}")
    if ev is not None and ev.verdict in VERDICTS and ev.ticket and ev.random_reinit and ev.random_prune:
        check(ev.verdict == x["verdict"], f"{label}: the verdict the script saw ({x['verdict']}) is the registry's ({ev.verdict})")
        best = max(ev.random_reinit.mean, ev.random_prune.mean)
        check(ev.ticket.n == 1 and abs(ev.margin - (x["accuracy"] - best)) < 1e-9,
              f"{label}: margin {ev.margin} = accuracy {x['accuracy']} - best control {best}")
        wins = ev.margin > 0.01 + 1e-9 and ev.verdict != "below_dense"
        check((ev.verdict == "wins") == wins, f"{label}: verdict {ev.verdict} for margin {ev.margin}")
    verdicts.append(f"{label} (sparsity {x['sparsity']:.2f}): {ev.verdict if ev else None}, accuracy {x['accuracy']:.4f}, "
                    + ", ".join(f"{c['kind']} {c['accuracy']:.4f}" for c in x["controls"])
                    + (f", margin {ev.margin:+.4f}" if ev is not None and ev.margin is not None else ""))


verdicts = []
control_seconds = {}


# numpy
report_path = os.path.join(tempfile.mkdtemp(), "report.json")
r = run("find_tickets.py", "--server", URL, "--token", TOKEN, "--rounds", "2", "--name", "ci", "--report", report_path)
check(r.returncode == 0, f"find_tickets.py exits 0: {r.stderr[-500:]}")
report = json.load(open(report_path)) if os.path.exists(report_path) else {"levels": [], "control_seconds": None}
control_seconds["numpy"] = report["control_seconds"]
report = report["levels"]
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
for x in report:
    check_evidence(f"numpy level {x['level']}", x, "global")
reuse(last["id"], 0.5)

# torch
report_path = os.path.join(tempfile.mkdtemp(), "report-torch.json")
r = run("find_tickets_torch.py", "--rounds", "2", "--epochs", "4", "--name", "ci-torch", "--report", report_path)
check(r.returncode == 0, f"find_tickets_torch.py exits 0: {r.stderr[-500:]}")
report = json.load(open(report_path)) if os.path.exists(report_path) else {"levels": [], "control_seconds": None}
control_seconds["torch"] = report["control_seconds"]
report = report["levels"]
check([x["level"] for x in report] == [0, 1, 2], "torch: three levels")
for x in report:
    t = client.get(x["id"])
    check(abs(t.sparsity - x["sparsity"]) < 1e-12, f"torch level {x['level']}: server {t.sparsity} == torch's {x['sparsity']}")
    check(t.parent_id == x["parent_id"], f"torch level {x['level']}: parent {t.parent_id}")
check([round(x["sparsity"], 2) for x in report] == [0.0, 0.2, 0.36], f"torch: 20% per round: {[x['sparsity'] for x in report]}")
for x in report:
    check_evidence(f"torch level {x['level']}", x, "global")
if report:
    reuse(report[-1]["id"], 0.0)
for line in verdicts:
    print("verdict:", line)
print("controls: " + ", ".join(f"{k} {v:.1f} s" if v is not None else f"{k} ?" for k, v in control_seconds.items())
      + " of training")
print(f"workflow: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
