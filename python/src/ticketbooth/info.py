"""Typed views of the server's JSON: :class:`TicketInfo`, :class:`TensorInfo`, :class:`Lineage`,
:class:`Result`, :class:`Evidence` and its :class:`Stats`, :class:`TransferCell`.

Fields the server adds later land in ``extra`` instead of raising, so an older client keeps
working against a newer server.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, List, Mapping, Optional

__all__ = ["TicketInfo", "TensorInfo", "Lineage", "Result", "Evidence", "Stats", "TransferCell", "KINDS",
           "VERDICTS"]

# The kinds of result a ticket can carry (docs/evidence.md), and the verdicts computed from them.
KINDS = ("reproduction", "random_reinit", "random_prune", "dense", "transfer")
VERDICTS = ("unverified", "below_dense", "no_better_than_controls", "wins")


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
    ``evidence`` (an :class:`Evidence`) is computed by the server from the ticket's results:
    its verdict and the statistics behind it (``None`` from a server without results).
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
    evidence: Optional["Evidence"] = None
    #: The sha256 of the network's shapes (docs/masks.md): equal for tickets that fit one model.
    architecture_fingerprint: Optional[str] = None
    #: N:M structure: ``"1:4"``, ``"2:4"``, ``"4:8"``, ``"unstructured"`` (or ``"unknown"``).
    structure: Optional[str] = None
    #: In :meth:`Client.similar` results: the estimated Jaccard index of the two kept sets.
    jaccard: Optional[float] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TicketInfo":
        """Builds one from the server's JSON object; unknown keys go to ``extra``."""
        known, extra = _split(cls, data)
        if known.get("tensors") is not None:
            known["tensors"] = [TensorInfo.from_json(t) for t in known["tensors"]]
        if isinstance(known.get("evidence"), Mapping):
            known["evidence"] = Evidence.from_json(known["evidence"])
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
        if self.evidence is None:
            out.pop("evidence")
        else:
            out["evidence"] = self.evidence.to_json()
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


@dataclass
class Stats:
    """Accuracies of one group of runs (the ticket, or one control) in the ticket's metric.

    Attributes:
        n: how many runs.
        mean: their mean.
        std: their sample standard deviation (``None`` for fewer than 2 runs).
        min, max: the lowest and the highest.
    """

    n: int
    mean: float
    std: Optional[float]
    min: float
    max: float
    extra: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Optional[Mapping[str, Any]]) -> "Optional[Stats]":
        """Builds one from the server's JSON object (``None`` stays ``None``)."""
        if data is None:
            return None
        known, extra = _split(cls, data)
        for k in ("n", "mean", "std", "min", "max"):
            known.setdefault(k, None)
        return cls(**known, extra=extra)

    def to_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"n": self.n, "mean": self.mean, "std": self.std, "min": self.min, "max": self.max}
        out.update(self.extra)
        return out


@dataclass
class Evidence:
    """Whether a ticket wins, as the server computes it from the ticket's results (never from
    the uploader's say-so); see docs/evidence.md.

    Attributes:
        verdict: ``unverified`` (no ``random_reinit`` or ``random_prune`` result yet),
            ``below_dense`` (more than half a point under the dense accuracy),
            ``no_better_than_controls`` (a control within one point of the ticket, or above it)
            or ``wins``.
        margin: the ticket's mean minus the best control's mean (``None`` while unverified).
        ticket: the ticket's own accuracy with every ``reproduction`` in its metric.
        random_reinit, random_prune, dense: that kind's results in the ticket's metric
            (``dense`` also counts the ticket's ``dense_accuracy``); ``None`` when there are none.
        reproductions: every ``reproduction`` result (any metric).
        reproductions_by_others: those reported by someone other than the ticket's owner.
    """

    verdict: str = "unverified"
    margin: Optional[float] = None
    ticket: Optional[Stats] = None
    random_reinit: Optional[Stats] = None
    random_prune: Optional[Stats] = None
    dense: Optional[Stats] = None
    reproductions: int = 0
    reproductions_by_others: int = 0
    extra: Dict[str, Any] = field(default_factory=dict)

    _GROUPS = ("ticket", "random_reinit", "random_prune", "dense")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Evidence":
        """Builds one from the server's JSON object; unknown keys go to ``extra``."""
        known, extra = _split(cls, data)
        for k in cls._GROUPS:
            known[k] = Stats.from_json(known.get(k))
        return cls(**known, extra=extra)

    def to_json(self) -> Dict[str, Any]:
        """The JSON object this was built from (``extra`` merged back in)."""
        out: Dict[str, Any] = {"verdict": self.verdict, "margin": self.margin}
        for k in self._GROUPS:
            stats = getattr(self, k)
            out[k] = stats.to_json() if stats is not None else None
        out["reproductions"] = self.reproductions
        out["reproductions_by_others"] = self.reproductions_by_others
        out.update(self.extra)
        return out

    @property
    def wins(self) -> bool:
        """Whether the verdict is ``wins``."""
        return self.verdict == "wins"


@dataclass
class Result:
    """One training run reported against a ticket (docs/evidence.md).

    Attributes:
        id, ticket_id, owner, created_at: set by the server.
        kind: ``reproduction``, ``random_reinit``, ``random_prune``, ``dense`` or ``transfer``.
        accuracy: a fraction in [0, 1], in ``metric`` (the ticket's metric unless said).
        seed, dataset, scope, steps, framework, hardware, code_url, notes: as reported
            (``scope`` is ``layerwise`` or ``global``, for ``random_prune`` only).
        evidence: the ticket's :class:`Evidence` right after this result was added; only set
            on what :meth:`Client.add_result` returns.
    """

    id: str
    ticket_id: str
    owner: str
    kind: str
    accuracy: float
    metric: Optional[str] = None
    seed: Optional[int] = None
    dataset: Optional[str] = None
    scope: Optional[str] = None
    steps: Optional[int] = None
    framework: Optional[str] = None
    hardware: Optional[str] = None
    code_url: Optional[str] = None
    notes: Optional[str] = None
    created_at: Optional[str] = None
    evidence: Optional[Evidence] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], evidence: Optional[Mapping[str, Any]] = None) -> "Result":
        """Builds one from the server's JSON object (and the evidence that came with it)."""
        known, extra = _split(cls, data)
        for k in ("id", "ticket_id", "owner", "kind", "accuracy"):
            known.setdefault(k, None)
        known["evidence"] = Evidence.from_json(evidence) if isinstance(evidence, Mapping) else None
        return cls(**known, extra=extra)

    def to_json(self) -> Dict[str, Any]:
        """The result's JSON object (without ``evidence``, which is the ticket's)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("extra", "evidence")}
        out.update(self.extra)
        return out


@dataclass
class TransferCell:
    """One cell of a transfer matrix: tickets found on ``source``, trained on ``target`` by
    ``transfer`` results: how many results (``n``), their ``mean`` accuracy, and the ids of the
    tickets behind them (at most 100)."""

    source: str
    target: str
    n: int
    mean: float
    tickets: List[str] = field(default_factory=list)
    extra: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "TransferCell":
        """Builds one from the server's JSON object."""
        known, extra = _split(cls, data)
        for k in ("source", "target", "n", "mean"):
            known.setdefault(k, None)
        return cls(**known, extra=extra)
