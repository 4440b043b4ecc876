"""ticketbooth.openlth.publish_run on a run directory built here in OpenLTH's layout
(facebookresearch/open_lth: foundations/paths.py, lottery/runner.py, pruning/mask.py,
training/metric_logger.py, foundations/desc.py):

    lottery_<hash>/replicate_1/level_pretrain/main/model_ep0_it5.pth   (rewinding: pretraining)
    lottery_<hash>/replicate_1/level_L/main/{mask.pth, sparsity_report.json, logger,
        model_ep0_it5.pth (the rewind point, mask applied), model_ep2_it0.pth (trained), checkpoint.pth}
    lottery_<hash>/replicate_1/level_0/main/hparams.log
"""
import json

import pytest

import ticketbooth
import ticketbooth.openlth

HPARAMS = """Dataset Hyperparameters
    * dataset_name => mnist
    * batch_size => 128
Model Hyperparameters
    * model_name => mnist_lenet_20_10
    * model_init => kaiming_normal
    * batchnorm_init => uniform
Pruning Hyperparameters
    * pruning_strategy => sparse_global
    * pruning_fraction => 0.2
Training Hyperparameters
    * optimizer_name => sgd
    * lr => 0.1
    * training_steps => 2ep
Pretraining Dataset Hyperparameters
    * dataset_name => mnist
    * batch_size => 128
Pretraining Training Hyperparameters
    * optimizer_name => sgd
    * lr => 0.1
    * training_steps => 5it"""


class LeNet:
    """OpenLTH's mnist_lenet_* parameter names: fc_layers.<i>.weight/bias, fc.weight/bias."""

    def __init__(self, torch):
        nn = torch.nn
        m = nn.Module()
        m.fc_layers = nn.ModuleList([nn.Linear(784, 20), nn.Linear(20, 10)])
        m.fc = nn.Linear(10, 10)
        self.module = m


def build_run(torch, root, levels=3):
    torch.manual_seed(0)
    rep = root / "lottery_0123456789abcdef0123456789abcdef" / "replicate_1"
    model = LeNet(torch).module
    rewind = {k: v.clone() for k, v in model.state_dict().items()}
    (rep / "level_pretrain" / "main").mkdir(parents=True)
    torch.save(rewind, rep / "level_pretrain" / "main" / "model_ep0_it5.pth")
    prunable = ["fc_layers.0.weight", "fc_layers.1.weight", "fc.weight"]
    mask = {k: torch.ones_like(rewind[k], dtype=torch.int32) for k in prunable}
    expected = []
    for level in range(levels):
        d = rep / f"level_{level}" / "main"
        d.mkdir(parents=True)
        if level:   # global magnitude pruning of 20% of what remains, on "trained" weights
            trained = {k: rewind[k] + 0.01 * torch.randn_like(rewind[k]) for k in prunable}
            alive = torch.cat([trained[k].abs()[mask[k] == 1] for k in prunable])
            cut = alive.sort().values[int(0.2 * len(alive))]
            mask = {k: (mask[k].bool() & (trained[k].abs() > cut)).int() for k in prunable}
        torch.save(mask, d / "mask.pth")
        total = sum(m.numel() for m in mask.values())
        unpruned = sum(int(m.sum()) for m in mask.values())
        (d / "sparsity_report.json").write_text(json.dumps({"total": float(total), "unpruned": float(unpruned)}, indent=4))
        start = {k: v * mask[k] if k in mask else v.clone() for k, v in rewind.items()}
        torch.save(start, d / "model_ep0_it5.pth")
        torch.save({k: v + 1 for k, v in start.items()}, d / "model_ep2_it0.pth")
        torch.save({"model_state_dict": start}, d / "checkpoint.pth")
        acc = [0.1, 0.9 - 0.01 * level, 0.95 - 0.02 * level]
        rows = [f"test_accuracy,{it},{a}" for it, a in zip((5, 100, 200), acc)]
        rows += [f"test_loss,{it},{1 / (1 + it)}" for it in (5, 100, 200)]
        (d / "logger").write_text("\n".join(rows))
        if level == 0:
            (d / "hparams.log").write_text(HPARAMS)
        expected.append(dict(sparsity=1 - unpruned / total, accuracy=acc[-1], start=start, mask=mask))
    return rep.parent, expected


def test_publish_run_publishes_every_level_as_a_chain(client, torch, tmp_path, unique):
    run, expected = build_run(torch, tmp_path / "open_lth_data")
    tickets = ticketbooth.openlth.publish_run(client, run, name=unique, tags=["mnist"], license="MIT")
    assert [t.name for t in tickets] == [f"{unique}-l{i}" for i in range(3)]
    assert [t.parent_id for t in tickets] == [None, tickets[0].id, tickets[1].id]
    assert [t.pruning_method for t in tickets] == ["dense", "imp-rewind", "imp-rewind"]
    for t, want in zip(tickets, expected):
        assert t.sparsity == pytest.approx(want["sparsity"], abs=1e-12)   # the server's count = OpenLTH's report
        assert t.accuracy == pytest.approx(want["accuracy"], abs=1e-12)    # the last test_accuracy row
        assert (t.dataset, t.architecture, t.license) == ("mnist", "mnist_lenet_20_10", "MIT")
        assert t.dense_accuracy == pytest.approx(expected[0]["accuracy"], abs=1e-12)
        assert set(t.tags) >= {"mnist", "lth", "openlth"}
        h = t.hyperparameters
        assert h["rewind_step"] == "ep0_it5" and h["level"] == tickets.index(t)
        assert h["openlth"]["Training Hyperparameters"] == {"optimizer_name": "sgd", "lr": 0.1, "training_steps": "2ep"}
        assert h["openlth"]["Pruning Hyperparameters"]["pruning_fraction"] == 0.2
        assert h["sparsity_report"]["total"] == float(sum(m.numel() for m in want["mask"].values()))
    lineage = client.lineage(tickets[2])
    assert [a.id for a in lineage.ancestors] == [tickets[1].id, tickets[0].id]
    # The stored weights are the rewind point's; apply puts them into an OpenLTH-shaped model.
    ticket = client.load(tickets[2].id)
    for k, m in expected[2]["mask"].items():
        assert torch.equal(ticket.masks[k].int(), m)
        assert torch.equal(ticket.weights[k], expected[2]["start"][k])
    fresh = ticket.apply(LeNet(torch).module)
    assert torch.equal(fresh.fc.weight, expected[2]["start"]["fc.weight"] * expected[2]["mask"]["fc.weight"])


def test_without_rewinding_the_start_is_ep0_it0(client, torch, tmp_path, unique):
    run, expected = build_run(torch, tmp_path / "d", levels=2)
    rep = run / "replicate_1"
    for level in (0, 1):
        d = rep / f"level_{level}" / "main"
        (d / "model_ep0_it5.pth").rename(d / "model_ep0_it0.pth")
    tickets = ticketbooth.openlth.publish_run(client, rep, name=unique)     # the replicate dir works too
    assert [t.hyperparameters["rewind_step"] for t in tickets] == ["ep0_it0", "ep0_it0"]
    assert [t.pruning_method for t in tickets] == ["dense", "imp"]


def test_not_a_run_directory(client, tmp_path, torch):
    with pytest.raises(ticketbooth.Invalid):
        ticketbooth.openlth.publish_run(client, tmp_path)


def test_hparams_and_logger_parsing(tmp_path):
    (tmp_path / "hparams.log").write_text(HPARAMS)
    h = ticketbooth.openlth.read_hparams(tmp_path / "hparams.log")
    assert h["Dataset Hyperparameters"] == {"dataset_name": "mnist", "batch_size": 128}
    (tmp_path / "logger").write_text("test_accuracy,0,0.1\ntest_accuracy,200,0.97\ntest_accuracy,100,0.9\n")
    assert ticketbooth.openlth.read_logger(tmp_path / "logger")["test_accuracy"][-1] == (200, 0.97)
