"""Publish the levels of an OpenLTH (``facebookresearch/open_lth``) lottery run as a chain of
tickets.

OpenLTH writes a lottery run as::

    <root>/lottery_<hash>/replicate_<R>/level_<L>/main/
        mask.pth                  {prunable tensor name: int 0/1 tensor}   (torch.save)
        sparsity_report.json      {"total": N, "unpruned": M}
        model_ep<E>_it<I>.pth     the model's state_dict at the level's start step, which is the
                                  run's rewinding step (ep0_it0 without rewinding), with the
                                  level's mask already applied; and again at the end of training
        logger                    rows "name,iteration,value" (test_accuracy, test_loss, ...)
        checkpoint.pth
    level_0/main/hparams.log      the hyperparameters, as sections of "    * key => value"
    level_pretrain/main/          the pretraining run, when rewinding (not a level)

Each level becomes one ticket: ``P_orig`` (the rewind-point weights) + ``P_mask`` (the level's
mask) for every masked tensor, every other tensor of the model as stored; its accuracy is the
last ``test_accuracy`` row of the level's logger; ``hyperparameters`` holds ``hparams.log``
parsed, the level and the rewind step; its parent is the level before.
"""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .errors import Invalid
from .info import TicketInfo

__all__ = ["publish_run", "read_hparams", "read_logger", "levels"]

_MODEL = re.compile(r"model_ep(\d+)_it(\d+)\.pth\Z")


def _scalar(text: str) -> Any:
    t = text.strip()
    if t == "None":
        return None
    if t in ("True", "False"):
        return t == "True"
    for cast in (int, float):
        try:
            return cast(t)
        except ValueError:
            pass
    return t


def read_hparams(path: "str | Path") -> Dict[str, Dict[str, Any]]:
    """``hparams.log`` as ``{section title: {key: value}}`` (numbers and booleans parsed), e.g.
    ``{"Training Hyperparameters": {"lr": 0.1, "training_steps": "40ep", ...}, ...}``."""
    out: Dict[str, Dict[str, Any]] = {}
    section: Optional[Dict[str, Any]] = None
    for line in Path(path).read_text().splitlines():
        m = re.match(r"\s+\*\s+(\S+)\s+=>\s?(.*)\Z", line)
        if m and section is not None:
            section[m.group(1)] = _scalar(m.group(2))
        elif line.strip():
            section = out.setdefault(line.strip(), {})
    return out


def read_logger(path: "str | Path") -> Dict[str, List[Tuple[int, float]]]:
    """A level's ``logger``: ``{metric: [(iteration, value), ...]}`` sorted by iteration."""
    out: Dict[str, Dict[int, float]] = {}
    for row in Path(path).read_text().strip().splitlines():
        if not row.strip():
            continue
        name, iteration, value = row.rsplit(",", 2)
        out.setdefault(name, {})[int(iteration)] = float(value)
    return {k: sorted(v.items()) for k, v in out.items()}


def _replicate_dir(run_dir: Path, replicate: Optional[int]) -> Path:
    if any(p.is_dir() and re.fullmatch(r"level_\d+", p.name) for p in run_dir.iterdir()):
        return run_dir
    reps = sorted((p for p in run_dir.iterdir() if p.is_dir() and re.fullmatch(r"replicate_\d+", p.name)),
                  key=lambda p: int(p.name.split("_")[1]))
    if replicate is not None:
        chosen = run_dir / f"replicate_{replicate}"
        if not chosen.is_dir():
            raise Invalid(f"{run_dir} has no replicate_{replicate}", code="bad_request", field="replicate")
        return chosen
    if len(reps) == 1:
        return reps[0]
    if not reps:
        raise Invalid(f"{run_dir} is not an OpenLTH lottery run: no level_<L> or replicate_<R> directories",
                      code="bad_request", field="run_dir")
    raise Invalid(f"{run_dir} has {len(reps)} replicates; pass replicate=N", code="bad_request", field="replicate")


def levels(run_dir: "str | Path", replicate: Optional[int] = None) -> List[Tuple[int, Path]]:
    """The run's levels, ``[(level, directory holding mask.pth), ...]`` in order."""
    rep = _replicate_dir(Path(run_dir), replicate)
    out = []
    for p in rep.iterdir():
        m = re.fullmatch(r"level_(\d+)", p.name)
        if m and p.is_dir():
            d = p / "main" if (p / "main").is_dir() else p
            out.append((int(m.group(1)), d))
    return sorted(out)


def _rewind_model(level_dir: Path) -> Tuple[Path, str]:
    found = []
    for p in level_dir.iterdir():
        m = _MODEL.match(p.name)
        if m:
            found.append(((int(m.group(1)), int(m.group(2))), p))
    if not found:
        raise Invalid(f"{level_dir} has no model_ep<E>_it<I>.pth", code="bad_request", field="run_dir")
    (ep, it), path = min(found)
    return path, f"ep{ep}_it{it}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", str(text).lower()).strip("-._") or "x"


def publish_run(client: Any, run_dir: "str | Path", *, name: Optional[str] = None,
                replicate: Optional[int] = None, task: str = "image-classification",
                parent: Any = None, **metadata: Any) -> List[TicketInfo]:
    """Publishes every level of an OpenLTH lottery run as a chain of tickets; returns them in
    level order.

    Args:
        client: a :class:`ticketbooth.Client` with an upload token.
        run_dir: the run's ``lottery_<hash>`` directory (one replicate, or pass ``replicate``), or
            its ``replicate_<R>`` directory.
        name: the tickets' name prefix; level L is ``{name}-l{L}`` (default
            ``openlth-<hash8>-r<R>``).
        task: the task (OpenLTH does not record one).
        parent: the parent of level 0 (e.g. a dense ticket), if any.
        **metadata: other fields for every ticket (``dataset``, ``architecture``, ``tags``,
            ``license``, ...); ``dataset`` and ``architecture`` default to hparams.log's
            ``dataset_name`` and ``model_name``, ``pruning_method`` to ``dense`` at level 0, then
            ``imp`` (``imp-rewind`` when the run rewinds past iteration 0).

    Each level's ``.pth`` files are read with ``torch.load(weights_only=True)``.
    """
    import torch

    from .ticket import _save_tensors

    run_dir = Path(run_dir)
    found = levels(run_dir, replicate)
    if not found:
        raise Invalid(f"{run_dir} has no level_<L> directories", code="bad_request", field="run_dir")
    rep_dir = _replicate_dir(run_dir, replicate)
    hparams_path = next((p for p in [d / "hparams.log" for _, d in found] + [rep_dir / "hparams.log"] if p.is_file()),
                        None)
    hparams = read_hparams(hparams_path) if hparams_path else {}
    flat: Dict[str, Any] = {}
    for section in hparams.values():
        for k, v in section.items():
            flat.setdefault(k, v)
    lottery = rep_dir.parent.name if rep_dir.name.startswith("replicate_") else rep_dir.name
    rep_no = rep_dir.name.split("_")[1] if rep_dir.name.startswith("replicate_") else "1"
    prefix = name or _slug(f"openlth-{lottery.replace('lottery_', '')[:8]}-r{rep_no}")
    published: List[TicketInfo] = []
    dense_accuracy = None
    for level, d in found:
        mask = torch.load(d / "mask.pth", map_location="cpu", weights_only=True)
        model_path, step = _rewind_model(d)
        state = torch.load(model_path, map_location="cpu", weights_only=True)
        log = read_logger(d / "logger") if (d / "logger").is_file() else {}
        rows = log.get("test_accuracy")
        if not rows:
            raise Invalid(f"{d / 'logger'} has no test_accuracy row", code="bad_request", field="accuracy")
        accuracy = rows[-1][1]
        if level == 0:
            dense_accuracy = accuracy
        report = json.loads((d / "sparsity_report.json").read_text()) if (d / "sparsity_report.json").is_file() else None
        tensors: Dict[str, Any] = {}
        for k, v in state.items():
            if k in mask:
                tensors[k + "_orig"] = v
                tensors[k + "_mask"] = mask[k].to(v.dtype) if v.is_floating_point() else mask[k]
            else:
                tensors[k] = v
        missing = [k for k in mask if k not in state]
        if missing:
            raise Invalid(f"mask.pth of level {level} names '{missing[0]}', which {model_path.name} lacks",
                          code="ticket_mismatch", field=missing[0])
        hyper = {"openlth": hparams, "level": level, "rewind_step": step, "source": "open_lth"}
        if report is not None:
            hyper["sparsity_report"] = report
        meta = dict(metadata)
        meta.setdefault("dataset", _slug(flat.get("dataset_name", "unknown")))
        meta.setdefault("architecture", _slug(flat.get("model_name", "unknown")))
        rewinds = step != "ep0_it0"
        meta.setdefault("pruning_method", "dense" if level == 0 else ("imp-rewind" if rewinds else "imp"))
        if dense_accuracy is not None:
            meta.setdefault("dense_accuracy", dense_accuracy)
        meta["hyperparameters"] = dict(meta.get("hyperparameters") or {}, **hyper)
        tags = list(meta.get("tags") or [])
        for t in ("lth", "openlth"):
            if t not in tags:
                tags.append(t)
        meta["tags"] = tags
        with tempfile.TemporaryDirectory(prefix="ticketbooth-openlth-") as tmp:
            path = Path(tmp) / f"level_{level}.safetensors"
            _save_tensors(tensors, path)
            info = client.publish(path, name=f"{prefix}-l{level}", task=task, accuracy=accuracy,
                                  parent=published[-1] if published else parent, **meta)
        published.append(info)
    return published
