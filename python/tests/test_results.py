"""Results and evidence (docs/evidence.md): every kind of result, the refusals (409 on a repeat,
422 for a run on the wrong dataset, 403 for someone else's), the verdict as results arrive and
leave, and the evidence's statistics against numpy's and the statistics module's."""
import math
import statistics

import numpy as np
import pytest
import requests

import ticketbooth
from conftest import need, token_for

DATASET = "sklearn-digits"
META = dict(task="image-classification", dataset=DATASET, architecture="mlp-64-32-10", pruning_method="imp")


def publish(client, name, accuracy=0.9, **meta):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((32, 64)).astype(np.float32)
    mask = (rng.random((32, 64)) < 0.3).astype(np.float32)
    return client.publish({"fc.weight_orig": w, "fc.weight_mask": mask, "fc.bias": np.zeros(32, np.float32)},
                          name=name, accuracy=accuracy, **dict(META, **meta))


def other_user(server, client, name="bob"):
    """A client for a second user (needs the registry's data dir to make the token)."""
    from conftest import binary

    _, _, data_dir = server
    need(data_dir, "TICKETBOOTH_TEST_DATA_DIR is not set: cannot make a second user's token")
    return ticketbooth.Client(client.url, token_for(binary(), data_dir, name), cache_dir=client.cache_dir)


def stats_of(values):
    """{n, mean, std, min, max} as the contract defines them, computed twice (numpy and the
    statistics module) and checked against each other."""
    arr = np.asarray(values, dtype=np.float64)
    mean, std = float(np.mean(arr)), (float(np.std(arr, ddof=1)) if len(values) > 1 else None)
    assert mean == pytest.approx(statistics.fmean(values), abs=1e-12)
    if std is not None:
        assert std == pytest.approx(statistics.stdev(values), abs=1e-12)
    return {"n": len(values), "mean": mean, "std": std, "min": float(arr.min()), "max": float(arr.max())}


def assert_stats(got, want):
    if want is None:
        assert got is None
        return
    assert isinstance(got, ticketbooth.Stats)
    assert got.n == want["n"]
    for k in ("mean", "min", "max"):
        assert getattr(got, k) == pytest.approx(want[k], abs=1e-9), k
    if want["std"] is None:
        assert got.std is None
    else:
        assert got.std == pytest.approx(want["std"], abs=1e-9)


def test_each_kind_is_stored_and_listed(client, unique):
    t = publish(client, unique)
    assert isinstance(t.evidence, ticketbooth.Evidence)
    assert t.evidence.verdict == "unverified" and t.evidence.margin is None
    assert t.evidence.reproductions == 0 and t.evidence.random_reinit is None
    made = [
        client.add_result(t.ref, kind="reproduction", accuracy=0.905, seed=1, steps=1200, framework="numpy",
                          hardware="1xCPU", code_url="https://example.org/lth.py", notes="same recipe"),
        client.add_result(t, kind="random_reinit", accuracy=0.81, seed=2),
        client.add_result(t.id, kind="random_prune", accuracy=0.78, seed=3, scope="layerwise"),
        client.add_result(t.id, kind="dense", accuracy=0.91, dataset=DATASET),
        client.add_result(t.id, kind="transfer", accuracy=0.55, dataset="mnist", seed=4),
    ]
    for r, kind in zip(made, ["reproduction", "random_reinit", "random_prune", "dense", "transfer"]):
        assert isinstance(r, ticketbooth.Result)
        assert (r.kind, r.ticket_id, r.owner) == (kind, t.id, t.owner)
        assert r.id and r.created_at
        assert r.metric == t.metric                               # defaults to the ticket's
        assert isinstance(r.evidence, ticketbooth.Evidence)
    first = made[0]
    assert (first.accuracy, first.seed, first.steps, first.framework, first.hardware, first.code_url, first.notes) == \
        (0.905, 1, 1200, "numpy", "1xCPU", "https://example.org/lth.py", "same recipe")
    assert made[2].scope == "layerwise" and made[1].scope is None
    assert made[4].dataset == "mnist"
    # Listed oldest first, by id and by owner/name, as they were returned.
    for ref in (t.id, t.ref, t):
        listed = client.results(ref)
        assert [r.id for r in listed] == [r.id for r in made]
        assert [r.to_json() for r in listed] == [r.to_json() for r in made]
        assert all(r.evidence is None for r in listed)
    # The answer's evidence is what every read after it shows.
    assert client.get(t.id).evidence == made[-1].evidence
    assert made[-1].evidence.reproductions == 1 and made[-1].evidence.reproductions_by_others == 0
    assert made[0].evidence.verdict == "unverified"               # a reproduction is no control
    assert made[1].evidence.verdict != "unverified"


def test_a_repeat_is_409(client, unique):
    t = publish(client, unique)
    client.add_result(t.id, kind="random_reinit", accuracy=0.8, seed=1)
    with pytest.raises(ticketbooth.Conflict) as e:
        client.add_result(t.id, kind="random_reinit", accuracy=0.7, seed=1)
    assert e.value.status == 409 and e.value.code
    # The same kind and seed, with the dataset spelled out: still the same run.
    with pytest.raises(ticketbooth.Conflict):
        client.add_result(t.id, kind="random_reinit", accuracy=0.7, seed=1, dataset=DATASET)
    client.add_result(t.id, kind="random_reinit", accuracy=0.8, seed=2)       # another seed
    client.add_result(t.id, kind="random_prune", accuracy=0.8, seed=1, scope="global")  # another kind
    client.add_result(t.id, kind="dense", accuracy=0.9)                          # no seed: one value
    with pytest.raises(ticketbooth.Conflict):
        client.add_result(t.id, kind="dense", accuracy=0.91)
    client.add_result(t.id, kind="transfer", accuracy=0.5, dataset="mnist", seed=1)
    client.add_result(t.id, kind="transfer", accuracy=0.5, dataset="cifar10", seed=1)  # another dataset
    with pytest.raises(ticketbooth.Conflict):
        client.add_result(t.id, kind="transfer", accuracy=0.6, dataset="mnist", seed=1)
    assert [r.kind for r in client.results(t.id)] == ["random_reinit", "random_reinit", "random_prune", "dense",
                                                       "transfer", "transfer"]
    assert client.results(t.id)[0].accuracy == 0.8                # the first one is kept


def test_refusals_are_422_naming_the_field(client, unique):
    t = publish(client, unique)
    cases = [
        (dict(kind="reproduction", accuracy=0.9, dataset="mnist"), "dataset"),   # that run is a transfer
        (dict(kind="random_reinit", accuracy=0.9, dataset="mnist"), "dataset"),
        (dict(kind="transfer", accuracy=0.9, dataset=DATASET), "dataset"),       # that is a reproduction
        (dict(kind="transfer", accuracy=0.9), "dataset"),                         # required for a transfer
        (dict(kind="random_reinit", accuracy=0.9, scope="global"), "scope"),     # random_prune only
        (dict(kind="random_prune", accuracy=0.9, scope="everywhere"), "scope"),
        (dict(kind="winning", accuracy=0.9), "kind"),
        (dict(kind="dense", accuracy=-0.1), "accuracy"),
        (dict(kind="dense", accuracy=0.9, seed=-1), "seed"),
        (dict(kind="dense", accuracy=0.9, code_url="ftp://example.org/x"), "code_url"),
        (dict(kind="dense", accuracy=0.9, notes="x" * 2001), "notes"),
    ]
    for body, field in cases:
        with pytest.raises(ticketbooth.Invalid) as e:
            client.add_result(t.id, **body)
        assert (e.value.status, e.value.field) == (422, field), (body, e.value)
    with pytest.raises(ticketbooth.Invalid) as e:
        client.add_result(t.id, kind="dense", accuracy=97)
    assert e.value.status == 422 and e.value.field == "accuracy" and "0.97" in e.value.message
    assert client.results(t.id) == []                             # nothing refused was stored
    assert client.get(t.id).evidence.verdict == "unverified"


def test_the_verdict_follows_the_results(client, unique):
    t = publish(client, unique, accuracy=0.90)
    assert client.get(t.ref).evidence.verdict == "unverified"
    reinit = client.add_result(t.ref, kind="random_reinit", accuracy=0.85, seed=1)
    assert reinit.evidence.verdict == "wins"
    assert reinit.evidence.margin == pytest.approx(0.05, abs=1e-12)
    assert client.get(t.id).evidence.verdict == "wins"
    # A random mask within a point of the ticket: no better than the controls.
    prune = client.add_result(t.ref, kind="random_prune", accuracy=0.895, seed=1, scope="global")
    assert prune.evidence.verdict == "no_better_than_controls"
    assert prune.evidence.margin == pytest.approx(0.005, abs=1e-12)
    assert client.get(t.id).evidence.verdict == "no_better_than_controls"
    # Deleting that control brings the win back; deleting the last control, unverified again.
    after = client.delete_result(prune.id)
    assert isinstance(after, ticketbooth.Evidence) and after.verdict == "wins"
    assert after.random_prune is None and after.margin == pytest.approx(0.05, abs=1e-12)
    assert client.get(t.id).evidence == after
    after = client.delete_result(reinit)
    assert after.verdict == "unverified" and after.margin is None and after.random_reinit is None
    assert client.get(t.id).evidence.verdict == "unverified"
    assert client.results(t.id) == []
    with pytest.raises(ticketbooth.NotFound):
        client.delete_result(reinit.id)                           # already gone


def test_the_verdict_boundaries(client, unique):
    # One point exactly is not "more than one point": no better than the controls.
    t = publish(client, unique, accuracy=0.75)
    assert client.add_result(t.id, kind="random_reinit", accuracy=0.74, seed=1).evidence.verdict == "no_better_than_controls"
    # A control above the ticket.
    u = publish(client, unique + "-b", accuracy=0.75)
    e = client.add_result(u.id, kind="random_prune", accuracy=0.8, scope="layerwise").evidence
    assert e.verdict == "no_better_than_controls" and e.margin == pytest.approx(-0.05, abs=1e-12)
    # Beats its controls but lies more than half a point under dense: below_dense, from the
    # uploaded dense_accuracy or from a dense result.
    v = publish(client, unique + "-c", accuracy=0.90, dense_accuracy=0.92)
    assert v.evidence.dense.n == 1 and v.evidence.verdict == "unverified"
    assert client.add_result(v.id, kind="random_reinit", accuracy=0.5).evidence.verdict == "below_dense"
    w = publish(client, unique + "-d", accuracy=0.90)
    assert client.add_result(w.id, kind="random_reinit", accuracy=0.5).evidence.verdict == "wins"
    d = client.add_result(w.id, kind="dense", accuracy=0.906)
    assert d.evidence.verdict == "below_dense"
    assert client.delete_result(d).verdict == "wins"
    assert client.add_result(w.id, kind="dense", accuracy=0.904, seed=1).evidence.verdict == "wins"  # within half a point


def test_evidence_statistics(server, client, unique):
    t = publish(client, unique, accuracy=0.90, dense_accuracy=0.93)
    me = {"reproduction": [0.91, 0.89, 0.905], "random_reinit": [0.80, 0.82, 0.79], "random_prune": [0.70],
          "dense": [0.925]}
    for kind, accs in me.items():
        for seed, acc in enumerate(accs):
            client.add_result(t.id, kind=kind, accuracy=acc, seed=seed,
                              scope="global" if kind == "random_prune" else None)
    # In another metric: stored and listed, left out of the statistics, still a reproduction.
    client.add_result(t.id, kind="reproduction", accuracy=0.99, seed=99, metric="top5_accuracy")
    client.add_result(t.id, kind="random_reinit", accuracy=0.99, seed=99, metric="top5_accuracy")
    bob = other_user(server, client)
    by_bob = bob.add_result(t.ref, kind="reproduction", accuracy=0.897, seed=0)
    assert by_bob.owner != t.owner

    ev = client.get(t.id).evidence
    assert ev == by_bob.evidence
    want = {
        "ticket": stats_of([0.90] + me["reproduction"] + [0.897]),
        "random_reinit": stats_of(me["random_reinit"]),
        "random_prune": stats_of(me["random_prune"]),
        "dense": stats_of([0.93] + me["dense"]),
    }
    for k, w in want.items():
        assert_stats(getattr(ev, k), w)
    assert ev.random_prune.std is None                            # n < 2
    assert (ev.reproductions, ev.reproductions_by_others) == (5, 1)
    best_control = max(want["random_reinit"]["mean"], want["random_prune"]["mean"])
    assert ev.margin == pytest.approx(want["ticket"]["mean"] - best_control, abs=1e-9)
    # The ticket (mean 0.9004) beats its controls by 8 points but is 2.7 points under dense.
    assert want["dense"]["mean"] - want["ticket"]["mean"] > 0.005
    assert ev.verdict == "below_dense"
    assert len(client.results(t.ref)) == 11                       # 8 + 2 in another metric + bob's
    # The same numbers come back through the raw API, and through the cache's copy of the ticket.
    raw = requests.get(f"{client.url}/api/v1/tickets/{t.id}").json()["evidence"]
    assert ticketbooth.Evidence.from_json(raw) == ev and ev.to_json() == raw
    assert ticketbooth.TicketInfo.from_json(client.get(t.id).to_json()).evidence == ev
    # bob's reproduction leaves: the others' count and the ticket's statistics follow.
    ev = bob.delete_result(by_bob.id)
    assert (ev.reproductions, ev.reproductions_by_others) == (4, 0)
    assert_stats(ev.ticket, stats_of([0.90] + me["reproduction"]))


def test_someone_elses_result_or_a_token_without_the_scope_is_403(server, client, unique):
    t = publish(client, unique)
    mine = client.add_result(t.id, kind="random_reinit", accuracy=0.5)
    bob = other_user(server, client)
    with pytest.raises(ticketbooth.Forbidden) as e:
        bob.delete_result(mine.id)
    assert e.value.status == 403
    theirs = bob.add_result(t.id, kind="random_reinit", accuracy=0.6)   # bob's own run: allowed
    with pytest.raises(ticketbooth.Forbidden):
        client.delete_result(theirs.id)                           # not even the ticket's owner
    r = requests.post(client.url + "/api/v1/tokens", headers={"Authorization": f"Bearer {client.token}"},
                      json={"label": "upload-only", "scopes": ["upload"]})
    assert r.status_code == 201, r.text
    upload_only = ticketbooth.Client(client.url, r.json()["token"], cache_dir=client.cache_dir)
    with pytest.raises(ticketbooth.Forbidden) as e:
        upload_only.add_result(t.id, kind="random_prune", accuracy=0.5, scope="global")
    assert e.value.status == 403 and "results" in e.value.message
    with pytest.raises(ticketbooth.Forbidden):
        upload_only.delete_result(mine.id)
    with pytest.raises(ticketbooth.Unauthorized) as e:             # no token: said before sending
        ticketbooth.Client(client.url, cache_dir=client.cache_dir).add_result(t.id, kind="dense", accuracy=0.5)
    assert e.value.status is None
    assert [r.id for r in client.results(t.id)] == [mine.id, theirs.id]
    with pytest.raises(ticketbooth.NotFound):
        client.add_result("01a00000-0000-7000-8000-000000000000", kind="dense", accuracy=0.5)
    with pytest.raises(ticketbooth.NotFound):
        client.results("nobody/nothing")


def test_results_at_upload_time(client, unique):
    t = publish(client, unique, accuracy=0.9, results=[
        {"kind": "random_reinit", "accuracy": 0.8, "seed": 1},
        {"kind": "random_prune", "accuracy": 0.7, "seed": 1, "scope": "global"},
    ])
    assert t.evidence.verdict == "wins"
    assert t.evidence.margin == pytest.approx(0.1, abs=1e-12)
    listed = client.results(t.id)
    assert [(r.kind, r.accuracy, r.owner) for r in listed] == [("random_reinit", 0.8, t.owner),
                                                               ("random_prune", 0.7, t.owner)]
    # A bad item refuses the whole upload: no ticket.
    with pytest.raises(ticketbooth.Invalid) as e:
        publish(client, unique + "-bad", results=[{"kind": "random_reinit", "accuracy": 0.8},
                                                  {"kind": "reproduction", "accuracy": 0.8, "dataset": "mnist"}])
    assert e.value.status == 422
    with pytest.raises(ticketbooth.NotFound):
        client.get(f"{t.owner}/{unique}-bad")


def test_find_by_verdict(client, unique):
    wins = publish(client, unique, accuracy=0.9, tags=[unique])
    client.add_result(wins.id, kind="random_reinit", accuracy=0.5)
    loses = publish(client, unique + "-b", accuracy=0.9, tags=[unique])
    client.add_result(loses.id, kind="random_reinit", accuracy=0.9)
    publish(client, unique + "-c", accuracy=0.9, tags=[unique])
    found = {t.name: t.evidence.verdict for t in client.search(tag=unique)}
    assert found == {unique: "wins", unique + "-b": "no_better_than_controls", unique + "-c": "unverified"}
    assert [t.id for t in client.search(tag=unique, verdict="wins")] == [wins.id]
    client.add_result(wins.id, kind="reproduction", accuracy=0.9)
    assert [t.id for t in client.search(tag=unique, min_reproductions=1)] == [wins.id]
    assert list(client.search(tag=unique, reproduced_by_others=True)) == []
    assert math.isfinite(next(client.search(tag=unique, sort="reproductions")).evidence.ticket.mean)


def test_transfer_matrix(client, unique):
    task = unique + "-task"
    a = publish(client, unique, task=task, dataset="digits-a")
    b = publish(client, unique + "-b", task=task, dataset="digits-a")
    c = publish(client, unique + "-c", task=task, dataset="digits-b")
    client.add_result(a.id, kind="transfer", dataset="digits-b", accuracy=0.6, seed=1)
    client.add_result(a.id, kind="transfer", dataset="digits-b", accuracy=0.7, seed=2)
    client.add_result(b.id, kind="transfer", dataset="digits-b", accuracy=0.8)
    client.add_result(b.id, kind="transfer", dataset="digits-c", accuracy=0.5)
    client.add_result(c.id, kind="transfer", dataset="digits-a", accuracy=0.4)
    client.add_result(c.id, kind="transfer", dataset="digits-c", accuracy=0.3, metric="top5_accuracy")  # other metric
    cells = client.transfer(task, META["architecture"])
    assert all(isinstance(x, ticketbooth.TransferCell) for x in cells)
    got = [(x.source, x.target, x.n, x.mean, sorted(x.tickets)) for x in cells]
    assert [g[:3] for g in got] == [("digits-a", "digits-b", 3), ("digits-a", "digits-c", 1), ("digits-b", "digits-a", 1)]
    assert got[0][3] == pytest.approx(statistics.fmean([0.6, 0.7, 0.8]), abs=1e-12)
    assert got[0][4] == sorted([a.id, b.id]) and got[2][4] == [c.id]
    top5 = client.transfer(task, META["architecture"], metric="top5_accuracy")
    assert [(x.source, x.target, x.n, x.mean) for x in top5] == [("digits-b", "digits-c", 1, 0.3)]
