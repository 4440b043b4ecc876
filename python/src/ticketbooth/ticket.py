"""A ticket opened locally: :class:`Ticket` (masks, weights, tensors, ``apply``) and
:func:`export` (a pruned model's state dict, in the layout to publish)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple

import numpy as np

from .errors import Invalid
from .info import TicketInfo

__all__ = ["Ticket", "export"]

_FLOAT_KINDS = "f"


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _is_float(x: Any) -> bool:
    if _is_torch(x):
        return bool(x.is_floating_point())
    return np.asarray(x).dtype.kind == "f"


def _ndim(x: Any) -> int:
    return int(x.dim()) if _is_torch(x) else int(np.ndim(x))


def _from_numpy(x: Any) -> Any:
    """A torch tensor of a numpy array (0-d arrays stay 0-d, unlike np.ascontiguousarray)."""
    import torch

    return torch.from_numpy(np.array(x, order="C", copy=True))


def _nonzero(x: Any) -> Any:
    return x != 0


def _split_layout(tensors: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any], List[str]]:
    """(masks by parameter, weights by parameter, other tensor names) for a file's tensors."""
    masks: Dict[str, Any] = {}
    weights: Dict[str, Any] = {}
    names = list(tensors)
    has_masks = any(n.endswith("_mask") for n in names)
    if has_masks:
        for n in names:
            if not n.endswith("_mask"):
                continue
            p = n[: -len("_mask")]
            if p + "_orig" in tensors:
                masks[p] = tensors[n]
            elif p in tensors:
                masks[p] = tensors[n]
        for n in names:
            if n.endswith("_mask") and n[: -len("_mask")] in masks:
                continue
            p = n[: -len("_orig")] if n.endswith("_orig") and n[: -len("_orig")] in masks else n
            weights[p] = tensors[n]
    else:
        for n in names:
            t = tensors[n]
            weights[n] = t
            if _is_float(t) and _ndim(t) >= 2:
                masks[n] = _nonzero(t)
    return masks, weights, names


class Ticket:
    """A lottery ticket: masks plus the weights they start from (the init or rewind point).

    Attributes:
        info: the registry's :class:`TicketInfo` (``None`` for a local file).
        tensors: every tensor of the file by its stored name (``fc1.weight_orig``, ...).
        masks: parameter name ``P`` -> mask, for every ``P_mask`` in the file (in a file
            without masks, every floating tensor of rank >= 2, with mask ``P != 0``).
        weights: parameter name ``P`` -> the stored weights: ``P_orig`` (or ``P``) for masked
            parameters, and every other tensor by its name (biases, norms, buffers). Unmasked:
            ``model.load_state_dict(ticket.weights)`` loads the rewind point into a plain model.
        path: the file it was read from.
        framework: ``"torch"`` or ``"numpy"``: the type of the tensors.
    """

    def __init__(self, tensors: Mapping[str, Any], *, info: Optional[TicketInfo] = None,
                 path: Optional[Path] = None, framework: str = "torch",
                 metadata: Optional[Dict[str, str]] = None) -> None:
        self.tensors: Dict[str, Any] = dict(tensors)
        self.info = info
        self.path = path
        self.framework = framework
        self.metadata: Dict[str, str] = dict(metadata or {})
        self.masks, self.weights, _ = _split_layout(self.tensors)

    @classmethod
    def from_file(cls, path: "str | os.PathLike[str]", framework: str = "torch",
                  info: Optional[TicketInfo] = None) -> "Ticket":
        """Opens a local safetensors ticket (``framework`` ``"torch"`` or ``"numpy"``)."""
        from safetensors import safe_open

        if framework not in ("torch", "numpy"):
            raise Invalid(f"framework must be 'torch' or 'numpy'; got {framework!r}", code="bad_request",
                          field="framework")
        if framework == "torch":
            try:
                import torch  # noqa: F401
            except ImportError:
                raise ImportError("framework='torch' needs PyTorch: pip install 'ticketbooth[torch]' "
                                  "(or pass framework='numpy')") from None
        path = Path(path)
        from . import checks

        header, n = checks.read_header(path)
        checks.check_header(header, n, path.stat().st_size)
        fw = "pt" if framework == "torch" else "np"
        tensors = {}
        with safe_open(str(path), framework=fw) as f:
            metadata = f.metadata() or {}
            # File order (data offsets), as the registry lists them.
            order = sorted(f.keys(), key=lambda k: header[k]["data_offsets"][0])
            for k in order:
                tensors[k] = f.get_tensor(k)
        return cls(tensors, info=info, path=path, framework=framework, metadata=metadata)

    def __repr__(self) -> str:
        what = self.info.ref if self.info else (str(self.path) if self.path else "in memory")
        return f"<Ticket {what}: {len(self.masks)} masked parameters, sparsity {self.sparsity:.4f}>"

    @property
    def sparsity(self) -> float:
        """1 - kept / total over the masks, as the server counts it."""
        total = kept = 0
        for m in self.masks.values():
            a = m.detach().cpu().numpy() if _is_torch(m) else np.asarray(m)
            total += a.size
            kept += int(np.count_nonzero(a))
        return 1.0 - kept / total if total else 0.0

    def apply(self, model: Any, strict: bool = True) -> Any:
        """Puts the ticket into a fresh ``torch.nn.Module`` of the same architecture, in place,
        and returns it.

        Each masked parameter ``P`` gets its stored weights and then
        ``torch.nn.utils.prune.custom_from_mask`` with its mask (so ``P_orig``/``P_mask`` appear
        and ``P = P_orig * P_mask`` stays pruned while training); every other tensor is copied
        into the parameter or buffer of that name. With ``strict=True`` a tensor the model lacks,
        or a parameter or buffer the ticket lacks, raises :class:`Invalid` naming it (``field``);
        a shape mismatch raises whatever ``strict`` is. A parameter the model had already pruned
        is un-pruned first.
        """
        import torch
        from torch.nn.utils import prune

        sd = model.state_dict()
        model_names: Dict[str, Tuple[int, ...]] = {}
        for k, v in sd.items():
            if k.endswith("_mask") and k[: -len("_mask")] + "_orig" in sd:
                continue
            p = k[: -len("_orig")] if k.endswith("_orig") and k[: -len("_orig")] + "_mask" in sd else k
            model_names[p] = tuple(v.shape)
        problems: List[Tuple[str, str]] = []
        for p, w in self.weights.items():
            if p not in model_names:
                if strict:
                    problems.append((p, f"tensor '{p}' of the ticket has no parameter or buffer in the model"))
                continue
            shape = tuple(w.shape)
            if shape != model_names[p]:
                problems.append((p, f"tensor '{p}' has shape {list(shape)} in the ticket but "
                                    f"{list(model_names[p])} in the model"))
        if strict:
            for p in model_names:
                if p not in self.weights:
                    problems.append((p, f"the model's '{p}' is not in the ticket"))
        for p, m in self.masks.items():
            if tuple(m.shape) != tuple(self.weights[p].shape):
                problems.append((p, f"mask of '{p}' has shape {list(m.shape)} but its weights {list(self.weights[p].shape)}"))
        if problems:
            more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
            raise Invalid("; ".join(m for _, m in problems[:5]) + more, code="ticket_mismatch", field=problems[0][0])

        def as_torch(x: Any, like: Any) -> Any:
            t = x if _is_torch(x) else _from_numpy(x)
            return t.to(device=like.device, dtype=like.dtype)

        with torch.no_grad():
            for p, w in self.weights.items():
                if p not in model_names:
                    continue
                module_name, _, attr = p.rpartition(".")
                module = model.get_submodule(module_name) if module_name else model
                if hasattr(module, attr + "_orig"):
                    prune.remove(module, attr)
                target = getattr(module, attr)
                if target is None:
                    continue
                target.copy_(as_torch(w, target))
        for p, m in self.masks.items():
            if p not in model_names:
                continue
            module_name, _, attr = p.rpartition(".")
            module = model.get_submodule(module_name) if module_name else model
            target = getattr(module, attr)
            mask = as_torch(m, target) if not _is_torch(m) else m.to(device=target.device)
            prune.custom_from_mask(module, attr, mask=(mask != 0).to(target.dtype))
        return model


def export(model: Any, mode: str = "masked", weights: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The state dict a user would publish for a (pruned) ``torch.nn.Module``, as CPU tensors.

    Args:
        model: a module pruned with ``torch.nn.utils.prune`` (or not pruned at all).
        mode: ``"masked"``: the ``torch.nn.utils.prune`` layout, ``P_orig`` + ``P_mask``, which
            keeps the weights under the pruned entries (and what ``state_dict()`` gives);
            ``"dense_zeros"``: one tensor ``P = P_orig * P_mask`` per parameter, pruned entries
            exact zeros, no masks (a file the registry measures by its zeros; 'the sparsity goes
            back to 0' cannot happen, since no hook is needed to read it).
        weights: optionally, the weights to store instead of the model's current ones, keyed by
            parameter name ``P`` (e.g. the init or rewind point of an IMP round, whose mask the
            model holds): ``P_orig`` (or ``P``) takes ``weights[P]``.

    Tensors that share memory (tied weights) are copied apart, so safetensors can write them.
    """
    if mode not in ("masked", "dense_zeros"):
        raise Invalid(f"mode must be 'masked' or 'dense_zeros'; got {mode!r}", code="bad_request", field="mode")
    import torch

    sd = model.state_dict()
    pruned = {k[: -len("_mask")] for k in sd if k.endswith("_mask") and k[: -len("_mask")] + "_orig" in sd}
    out: Dict[str, Any] = {}

    def value(name: str, param: str) -> Any:
        v = sd[name]
        if weights is not None and param in weights:
            w = weights[param]
            w = w if _is_torch(w) else _from_numpy(w)
            if tuple(w.shape) != tuple(v.shape):
                raise Invalid(f"weights for '{param}' have shape {list(w.shape)}, the model's {list(v.shape)}",
                              code="ticket_mismatch", field=param)
            v = w.to(dtype=v.dtype)
        return v.detach().to("cpu").clone().contiguous()

    for k in sd:
        if k.endswith("_mask") and k[: -len("_mask")] in pruned:
            if mode == "masked":
                out[k] = sd[k].detach().to("cpu").clone().contiguous()
            continue
        if k.endswith("_orig") and k[: -len("_orig")] in pruned:
            p = k[: -len("_orig")]
            if mode == "masked":
                out[k] = value(k, p)
            else:
                out[p] = value(k, p) * sd[p + "_mask"].detach().to("cpu").to(sd[k].dtype)
            continue
        out[k] = value(k, k)
    return out


def _save_tensors(tensors: Mapping[str, Any], path: Path, metadata: Optional[Dict[str, str]] = None) -> None:
    """Writes numpy arrays or torch tensors with safetensors (copying shared tensors apart)."""
    if any(_is_torch(t) for t in tensors.values()):
        import torch
        from safetensors.torch import save_file

        seen: Set[Tuple[int, int]] = set()
        out = {}
        for k, t in tensors.items():
            t = t if _is_torch(t) else _from_numpy(t)
            t = t.detach().to("cpu")
            ptr = (t.untyped_storage().data_ptr(), t.untyped_storage().nbytes()) if t.numel() else None
            if ptr in seen or not t.is_contiguous():
                t = t.clone().contiguous()
            elif ptr is not None:
                seen.add(ptr)
            out[k] = t
        # Views of one storage (tied weights, slices) must each own their bytes to be written.
        out = {k: v.clone() if v.untyped_storage().nbytes() != v.numel() * v.element_size() else v
               for k, v in out.items()}
        save_file(out, str(path), metadata=metadata)
    else:
        from safetensors.numpy import save_file as np_save

        np_save({k: np.array(v, order="C") for k, v in tensors.items()}, str(path), metadata=metadata)
