"""Typed views of the server's JSON: :class:`TicketInfo`, :class:`TensorInfo`, :class:`Lineage`.

Fields the server adds later land in ``extra`` instead of raising, so an older client keeps
working against a newer server.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, List, Mapping, Optional

__all__ = ["TicketInfo", "TensorInfo", "Lineage"]


def _split(cls: type, data: Mapping[str, Any]) -> "tuple[Dict[str, Any], Dict[str, Any]]":
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    known = {k: v for k, v in data.items() if k in names}
    extra = {k: v for k, v in data.items() if k not in names}
    return known, extra


@dataclass
class TensorInfo:
    """One row of a ticket's per-tensor table, as the server measured it.

    Attributes:
        name: the tensor's name in the file (``fc1.weight_orig``, ``fc1.weight_mask``, ...).
        dtype: its safetensors dtype (``F32``, ``BOOL``, ...).
        shape: its shape.
        params: number of entries.
        kept: entries that are nonzero.
        prunable: whether it counts toward the ticket's sparsity (the masks, or without masks
            every floating tensor of rank 2 or more).
        extra: fields this client does not know.
    """

    name: str
    dtype: str
    shape: List[int]
    params: int
    kept: int
    prunable: bool
    extra: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TensorInfo":
        """Builds one from the server's JSON object."""
        known, extra = _split(cls, data)
        known.setdefault("shape", [])
        for k in ("params", "kept"):
            known.setdefault(k, 0)
        known.setdefault("prunable", False)
        return cls(**known, extra=extra)


@dataclass
class TicketInfo:
    """A ticket's metadata and measurements, as the server returns them.

    Every field of the API's ticket JSON is an attribute; ``tensors`` and ``description_html``
    are only present (not ``None``) in single-ticket views, not in search results, and
    ``same_owner`` only in lineage results. ``sparsity``, ``params_total``, ``params_kept`` and
    ``tensors`` were measured by the server from the file, never taken from the uploader.
    """

    id: str
    name: str
    owner: str
    task: str
    dataset: str
    architecture: str
    pruning_method: str
    accuracy: float
    sha256: str
    size_bytes: int
    sparsity: float
    params_total: int
    params_kept: int
    created_at: str
    dense_accuracy: Optional[float] = None
    metric: str = "top1_accuracy"
    description: Optional[str] = None
    description_html: Optional[str] = None
    tags: List[str] = field(default_factory=list)
    parent_id: Optional[str] = None
    hyperparameters: Optional[Dict[str, Any]] = None
    paper_url: Optional[str] = None
    code_url: Optional[str] = None
    license: Optional[str] = None
    tensors: Optional[List[TensorInfo]] = None
    downloads: int = 0
    yanked: bool = False
    same_owner: Optional[bool] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TicketInfo":
        """Builds one from the server's JSON object; unknown keys go to ``extra``."""
        known, extra = _split(cls, data)
        if known.get("tensors") is not None:
            known["tensors"] = [TensorInfo.from_json(t) for t in known["tensors"]]
        if known.get("tags") is None:
            known["tags"] = []
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                   and f.name not in known]
        for name in missing:  # a server that drops a field: keep going with a neutral value
            known[name] = None
        return cls(**known, extra=extra)

    def to_json(self) -> Dict[str, Any]:
        """The JSON object this was built from (``extra`` merged back in)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        if self.tensors is not None:
            out["tensors"] = [dict({k: v for k, v in dataclasses.asdict(t).items() if k != "extra"}, **t.extra)
                              for t in self.tensors]
        if self.same_owner is None:
            out.pop("same_owner")
        if self.description_html is None:
            out.pop("description_html")
        out.update(self.extra)
        return out

    @property
    def ref(self) -> str:
        """``owner/name``, the ticket's human address."""
        return f"{self.owner}/{self.name}"

    @property
    def created(self) -> Optional[datetime]:
        """``created_at`` as a timezone-aware datetime (``None`` if absent)."""
        if not self.created_at:
            return None
        return datetime.fromisoformat(self.created_at.replace("Z", "+00:00"))

    @property
    def weights_remaining(self) -> float:
        """The share of prunable weights kept, ``1 - sparsity`` (papers' "% of weights remaining")."""
        return 1.0 - self.sparsity


@dataclass
class Lineage:
    """A ticket's lineage: ``ancestors`` nearest first (parent, grandparent, ...) and
    ``children`` (tickets naming it as parent). Each has ``same_owner`` set."""

    ancestors: List[TicketInfo]
    children: List[TicketInfo]
    extra: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Lineage":
        """Builds one from the server's JSON object."""
        return cls(ancestors=[TicketInfo.from_json(t) for t in data.get("ancestors", [])],
                   children=[TicketInfo.from_json(t) for t in data.get("children", [])],
                   extra={k: v for k, v in data.items() if k not in ("ancestors", "children")})
