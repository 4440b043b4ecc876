"""ticketbooth: publish, find and reuse lottery tickets on a ticketbooth registry.

    import ticketbooth
    client = ticketbooth.Client()              # TICKETBOOTH_URL / TICKETBOOTH_TOKEN or `ticketbooth login`
    info = client.publish(pruned_model, name="lenet-imp-l3", task="image-classification",
                          dataset="mnist", architecture="lenet-300-100", pruning_method="imp",
                          accuracy=0.981, parent="you/lenet-imp-l2")
    for t in client.search(task="image-classification", min_sparsity=0.9, sort="accuracy", limit=5):
        print(t.ref, t.sparsity, t.accuracy)
    client.load(info.id).apply(fresh_model)    # masks via torch.nn.utils.prune, weights copied
    client.add_result(info, kind="random_reinit", accuracy=0.952, seed=1)   # a control run
    print(client.get(info.id).evidence.verdict)  # "wins", "no_better_than_controls", ...

torch is optional (``pip install 'ticketbooth[torch]'``); without it, ``framework="numpy"``.
"""
from .cache import default_cache_dir
from .client import Client, config_path
from .errors import (Conflict, Forbidden, IntegrityError, Invalid, NotCached, NotFound, RateLimited,
                     ServerError, TicketboothError, Unauthorized)
from .info import Evidence, Lineage, Result, Stats, TensorInfo, TicketInfo, TransferCell
from .packed import unpack
from .ticket import Ticket, export

__version__ = "0.1.0"

__all__ = [
    "Client", "Ticket", "TicketInfo", "TensorInfo", "Lineage", "Result", "Evidence", "Stats", "TransferCell",
    "export", "config_path",
    "default_cache_dir", "unpack", "TicketboothError", "NotFound", "Unauthorized", "Forbidden", "Invalid",
    "Conflict", "RateLimited", "ServerError", "NotCached", "IntegrityError", "__version__",
]
