"""Reuse: load a ticket, apply it to a fresh model, retrain to the same accuracy with the same
seed; strict errors name the tensor; export's two layouts."""
import numpy as np
import pytest

import ticketbooth
from models import cnn, digits, mlp, prune_global, train

META = dict(task="image-classification", dataset="sklearn-digits", architecture="cnn-tiny", pruning_method="imp")


def test_apply_into_a_fresh_model_retrains_to_the_same_accuracy(client, torch, unique):
    data = digits()
    model = cnn(torch, seed=0)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    dense_acc = train(torch, model, data, seed=1)
    prune_global(torch, model, 0.5)                      # masks from the trained weights
    # The ticket: the masks with the init (rewind point) weights.
    ticket_sd = ticketbooth.export(model, weights=init)
    rewound = cnn(torch, seed=123)
    ticketbooth.Ticket(ticket_sd).apply(rewound)
    acc_here = train(torch, rewound, data, seed=7)
    info = client.publish(ticket_sd, name=unique, accuracy=acc_here, dense_accuracy=dense_acc, **META)

    loaded = client.load(info.id)
    assert loaded.info.id == info.id and loaded.framework == "torch"
    assert set(loaded.masks) == {"1.weight", "5.weight"}
    assert torch.equal(loaded.weights["1.weight"], init["1.weight"])
    assert "3.running_mean" in loaded.weights and "1.bias" in loaded.weights
    assert loaded.sparsity == pytest.approx(info.sparsity)
    fresh = loaded.apply(cnn(torch, seed=999))
    assert hasattr(fresh[1], "weight_orig") and hasattr(fresh[1], "weight_mask")
    assert torch.equal(fresh[1].weight_mask, model[1].weight_mask)
    acc_there = train(torch, fresh, data, seed=7)
    assert acc_there == acc_here
    assert torch.all(fresh[1].weight[fresh[1].weight_mask == 0] == 0)      # still pruned after training
    # numpy works too, and gives the same result.
    again = client.load(info.ref, framework="numpy")
    assert isinstance(again.masks["1.weight"], np.ndarray)
    assert train(torch, again.apply(cnn(torch, seed=5)), data, seed=7) == acc_here


def test_strict_errors_name_the_tensor(torch):
    model = mlp(torch, hidden=32)
    prune_global(torch, model, 0.5)
    ticket = ticketbooth.Ticket(ticketbooth.export(model))
    with pytest.raises(ticketbooth.Invalid) as e:
        ticket.apply(mlp(torch, hidden=16))
    assert isinstance(e.value, ValueError) and isinstance(e.value, ticketbooth.TicketboothError)
    assert e.value.field in ("0.weight", "0.bias")
    assert "tensor '0.weight' has shape [32, 64] in the ticket but [16, 64] in the model" in e.value.message
    assert "tensor '0.bias' has shape [32] in the ticket but [16] in the model" in e.value.message
    bigger = torch.nn.Sequential(*mlp(torch), torch.nn.Linear(10, 3))
    with pytest.raises(ticketbooth.Invalid) as e:
        ticket.apply(bigger)
    assert e.value.field == "3.weight" and "not in the ticket" in e.value.message
    smaller = torch.nn.Sequential(torch.nn.Linear(64, 32))
    with pytest.raises(ticketbooth.Invalid) as e:
        ticket.apply(smaller)
    assert e.value.field in ("2.weight", "2.bias")
    assert "tensor '2.weight' of the ticket has no parameter or buffer in the model" in e.value.message
    # Not strict: what both have is applied; shapes must still agree.
    ticket.apply(bigger, strict=False)
    assert torch.equal(bigger[0].weight_mask, model[0].weight_mask)
    with pytest.raises(ticketbooth.Invalid):
        ticket.apply(mlp(torch, hidden=16), strict=False)


def test_file_without_masks_and_export_layouts(torch, tmp_path):
    model = mlp(torch)
    prune_global(torch, model, 0.6)
    masked = ticketbooth.export(model, mode="masked")
    assert {"0.weight_orig", "0.weight_mask", "0.bias"} <= set(masked)
    zeros = ticketbooth.export(model, mode="dense_zeros")
    assert "0.weight" in zeros and not any(k.endswith(("_mask", "_orig")) for k in zeros)
    from safetensors.torch import save_file
    save_file(zeros, str(tmp_path / "z.safetensors"))
    t = ticketbooth.Ticket.from_file(tmp_path / "z.safetensors")
    assert torch.equal(t.masks["0.weight"], zeros["0.weight"] != 0)       # the mask is P != 0
    assert "0.bias" not in t.masks
    fresh = t.apply(mlp(torch, seed=3))
    assert torch.equal(fresh[0].weight, zeros["0.weight"])
    with pytest.raises(ticketbooth.Invalid):
        ticketbooth.export(model, mode="sparse")


def test_shared_tensors_are_published(client, torch, unique):
    tied = torch.nn.Sequential(torch.nn.Linear(8, 8, bias=False), torch.nn.Linear(8, 8, bias=False))
    tied[1].weight = tied[0].weight
    info = client.publish(tied, name=unique, accuracy=0.1, **META)
    assert [t.name for t in info.tensors] == ["0.weight", "1.weight"]
