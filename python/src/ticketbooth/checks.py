"""The server's refusals, checked locally before a byte is sent, with the server's messages.

Mirrors the server's ``src/domain/inspector.rs`` (the safetensors header) and
``src/domain/metadata.rs`` (the metadata fields). The server stays the authority: these only
save a doomed upload.
"""
from __future__ import annotations

import json
import math
import re
import struct
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .errors import Invalid

__all__ = ["FIELDS", "read_header", "check_header", "check_metadata", "check_fraction"]

MAX_HEADER_BYTES = 16 << 20
MAX_NAME_BYTES = 1024
MAX_TENSORS = 100_000
MAX_RANK = 8
MAX_SLUG_LEN = 128
MAX_TAGS = 32
CONVERT_HINT = "save it with `safetensors.torch.save_file(model.state_dict(), path)`"
ACCEPTED = {"BOOL": 1, "U8": 1, "I8": 1, "U16": 2, "I16": 2, "U32": 4, "I32": 4, "U64": 8, "I64": 8,
            "F16": 2, "BF16": 2, "F32": 4, "F64": 8, "F8_E4M3": 1, "F8_E5M2": 1}
KNOWN_UNSUPPORTED = {"F4", "F6_E2M3", "F6_E3M2", "F8_E8M0", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "C64", "C128"}
FLOATS = {"F16", "BF16", "F32", "F64", "F8_E4M3", "F8_E5M2"}
FIELDS = ["name", "task", "dataset", "architecture", "pruning_method", "accuracy", "dense_accuracy",
          "metric", "description", "tags", "parent_id", "hyperparameters", "paper_url", "code_url",
          "license", "results"]
_SLUG = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")


def _bad_file(message: str) -> Invalid:
    return Invalid(message, code="invalid_safetensors", field="file")


def _bad_meta(field: str, message: str) -> Invalid:
    return Invalid(message, code="invalid_metadata", field=field)


def _sniff(prefix: bytes) -> Optional[str]:
    """What a file that is not safetensors looks like, from its first 8 bytes (as the server)."""
    if prefix[:4] == b"PK\x03\x04":
        return "a zip archive: a PyTorch checkpoint from torch.save (.pt/.pth)"
    if prefix[0] == 0x80 and 2 <= prefix[1] <= 5:
        return "a Python pickle (torch.save, or a .pkl)"
    if prefix[:1] in (b"{", b"["):
        return "JSON"
    if prefix[:4] == b"\x89HDF":
        return "an HDF5 file (a Keras .h5?)"
    if prefix[:4] == b"GGUF":
        return "a GGUF file"
    if prefix[:6] == b"\x93NUMPY":
        return "a NumPy .npy file"
    return None


def read_header(path: "str | Path") -> Tuple[Dict[str, Any], int]:
    """Reads a safetensors file's header: (the parsed JSON object, the header length N).

    Raises :class:`Invalid` (code ``invalid_safetensors``) when the file is not safetensors,
    naming what it looks like instead, as the server does."""
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise _bad_file(f"file is {len(prefix)} bytes long; a safetensors file starts with an "
                            f"8-byte header length (is this a safetensors file? {CONVERT_HINT})")
        (n,) = struct.unpack("<Q", prefix)
        if n > MAX_HEADER_BYTES:
            kind = _sniff(prefix)
            if kind:
                raise _bad_file(f"not a safetensors file: the content looks like {kind}; {CONVERT_HINT}")
            raise _bad_file(f"header length {n} exceeds the {MAX_HEADER_BYTES >> 20} MiB limit "
                            f"(is this a safetensors file? {CONVERT_HINT})")
        if n < 2:
            raise _bad_file(f"header length {n} is too small for a JSON object (is this a safetensors file? "
                            f"{CONVERT_HINT})")
        raw = f.read(n)
    if len(raw) < n:
        raise _bad_file(f"file ends inside its {n}-byte header")
    if raw[:1] != b"{":
        if raw[:1].isspace():
            raise _bad_file("header has whitespace before its opening '{'")
        raise _bad_file(f"header does not start with '{{' (is this a safetensors file? {CONVERT_HINT})")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad_file(f"header is not valid UTF-8 (is this a safetensors file? {CONVERT_HINT})") from None

    def no_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise _bad_file(f"header is not valid: duplicate tensor name '{k}'")
            out[k] = v
        return out

    try:
        header = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as e:
        raise _bad_file(f"header is not valid: {e} (is this a safetensors file? {CONVERT_HINT})") from None
    if not isinstance(header, dict):
        raise _bad_file("header is not valid: expected a JSON object")
    return header, n


def check_header(header: Mapping[str, Any], header_len: int, file_size: int) -> Dict[str, Any]:
    """Checks a parsed header as the server's inspector does. Returns a summary:
    ``{"tensors": [(name, dtype, shape, params, prunable)], "metadata": {...}, "params_total": n}``."""
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise _bad_file("header is not valid: __metadata__ must map strings to strings")
    entries = [(k, v) for k, v in header.items() if k != "__metadata__"]
    if not entries:
        raise _bad_file("file has no tensors")
    if len(entries) > MAX_TENSORS:
        raise _bad_file(f"header is not valid: the file has more than {MAX_TENSORS} tensors")
    plans = []
    for name, entry in entries:
        if not name:
            raise _bad_file("a tensor has an empty name")
        if len(name.encode()) > MAX_NAME_BYTES:
            raise _bad_file(f"tensor name '{name[:40]}...' is {len(name.encode())} bytes long; the limit is {MAX_NAME_BYTES}")
        if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
            raise _bad_file(f"tensor name {name!r} contains a NUL or control character")
        if not isinstance(entry, dict):
            raise _bad_file(f"header is not valid: tensor '{name}' is not an object")
        unknown = set(entry) - {"dtype", "shape", "data_offsets"}
        if unknown:
            raise _bad_file(f"header is not valid: unknown field `{sorted(unknown)[0]}` (tensor '{name}')")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in ACCEPTED:
            if dtype in KNOWN_UNSUPPORTED:
                raise _bad_file(f"dtype {dtype} is not supported (tensor '{name}'; accepted: "
                                + ", ".join(ACCEPTED) + ")")
            raise _bad_file(f"tensor '{name}': unknown dtype '{dtype}'")
        if (not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape)
                or not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and o >= 0 for o in offsets)):
            raise _bad_file(f"header is not valid: tensor '{name}' needs a shape and two data_offsets")
        if len(shape) > MAX_RANK:
            raise _bad_file(f"header is not valid: a shape has more than {MAX_RANK} dimensions (tensor '{name}')")
        begin, end = offsets
        if end < begin:
            raise _bad_file(f"tensor '{name}': data_offsets [{begin}, {end}] end before they begin")
        params = math.prod(shape)
        need = params * ACCEPTED[dtype]
        if need != end - begin:
            raise _bad_file(f"tensor '{name}': shape {shape} of {dtype} needs {need} bytes but "
                            f"data_offsets [{begin}, {end}] span {end - begin}")
        plans.append([name, dtype, shape, params, False, begin, end])
    plans.sort(key=lambda p: (p[5], p[6]))
    expected = 0
    for p in plans:
        if p[5] != expected:
            what = "a gap" if p[5] > expected else "an overlap"
            raise _bad_file(f"tensor '{p[0]}': data_offsets start at {p[5]} but the previous tensor ends at "
                            f"{expected} ({what}); tensor data must be contiguous")
        expected = p[6]
    by_name = {p[0]: p for p in plans}
    masks = set()
    for p in plans:
        if not p[0].endswith("_mask"):
            continue
        prefix = p[0][: -len("_mask")]
        param = by_name.get(prefix + "_orig") or by_name.get(prefix)
        if param is None:
            raise _bad_file(f"mask '{p[0]}' has no parameter: expected a tensor named '{prefix}_orig' or '{prefix}'")
        if param[2] != p[2]:
            raise _bad_file(f"mask '{p[0]}' has shape {p[2]} but its parameter '{param[0]}' has shape {param[2]}")
        masks.add(p[0])
    for p in plans:
        p[4] = p[0] in masks if masks else (p[1] in FLOATS and len(p[2]) >= 2)
    total = sum(p[3] for p in plans if p[4])
    if total == 0:
        raise _bad_file("file has no prunable entries: it needs *_mask tensors, or floating-point tensors of rank 2 or more")
    want = 8 + header_len + expected
    if file_size < want:
        raise _bad_file(f"file ends early: the header says {expected} bytes of tensor data, the file has {file_size - 8 - header_len}")
    if file_size > want:
        raise _bad_file(f"file has {file_size - want} bytes after the tensor data the header describes")
    return {"tensors": [tuple(p[:5]) for p in plans], "metadata": meta, "params_total": total}


def check_fraction(x: float) -> float:
    """A fraction in [0, 1], or :class:`ValueError` with the server's message (a value in
    (1, 100] gets "did you mean 0.934?")."""
    if 1.0 < x <= 100.0:
        suggestion = round(x / 100.0 * 1e12) / 1e12
        raise ValueError(f"must be a fraction in [0, 1]; {_num(x)} looks like a percentage (did you mean {_num(suggestion)}?)")
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"must be a fraction in [0, 1]; got {_num(x)}")
    return x


def _num(x: float) -> str:
    # Rust prints 93.4 as "93.4" and 5.0 as "5"; Python's repr gives "93.4" and "5.0".
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _edit_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (a swap of neighbours costs 1), as the server's."""
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    d[0] = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            best = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                best = min(best, d[i - 2][j - 2] + 1)
            d[i][j] = best
    return d[len(a)][len(b)]


def did_you_mean(key: str, known: List[str]) -> str:
    """" (did you mean 'task'?)" when a known name is near ``key``, as the server suggests."""
    if len(key) > 64:  # the server does not weigh long keys (their cost is len x len)
        return ""
    key_l = key.lower()
    best = None
    for k in known:
        d = _edit_distance(key_l, k)
        stem = 0
        for a, b in zip(key_l, k):
            if a != b:
                break
            stem += 1
        near = d <= 2 or (len(key_l) >= 3 and k.startswith(key_l)) or (stem >= 5 and d <= len(k) // 3)
        if near:
            cand = (d, sorted(key_l) != sorted(k), k)
            best = cand if best is None or cand < best else best
    return f" (did you mean '{best[2]}'?)" if best else ""


def _slug(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad_meta(field, "must be a string")
    s = value.lower()
    if not _SLUG.match(s):
        raise _bad_meta(field, "must be a slug of letters, digits, '.', '_' or '-', starting with a letter "
                               f"or digit; got {json.dumps(value)}")
    if len(s) > MAX_SLUG_LEN:
        raise _bad_meta(field, f"is longer than {MAX_SLUG_LEN} characters")
    return s


def _fraction(field: str, value: Any, from_file: bool) -> float:
    x: Optional[float] = None
    if from_file and isinstance(value, str):
        try:
            x = float(value.strip())
        except ValueError:
            x = None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        x = float(value)
    if x is None or not math.isfinite(x):
        raise _bad_meta(field, "must be a finite number, a fraction in [0, 1]")
    try:
        return check_fraction(x)
    except ValueError as e:
        raise _bad_meta(field, str(e)) from None


def check_metadata(json_part: Mapping[str, Any], file_meta: Mapping[str, str]) -> List[str]:
    """Checks the metadata the server would resolve from the JSON part and the file's
    ``__metadata__`` (the JSON part wins field by field; ``None`` counts as absent). Raises
    :class:`Invalid` (code ``invalid_metadata``, ``field`` set) with the server's message.
    Returns the fields taken from ``__metadata__``."""
    for key in json_part:
        if key not in FIELDS:
            raise _bad_meta(key, f"unknown metadata field{did_you_mean(key, FIELDS)}")
    from_file = []

    def get(field: str) -> Tuple[Any, bool]:
        v = json_part.get(field)
        if v is None and field in file_meta:
            from_file.append(field)
            return file_meta[field], True
        return v, False

    for field in ("name", "task", "dataset", "architecture", "pruning_method"):
        v, _ = get(field)
        if v is None:
            raise _bad_meta(field, "is required, in the metadata part or in the file's __metadata__")
        _slug(field, v)
    v, f = get("accuracy")
    if v is None:
        raise _bad_meta("accuracy", "is required, in the metadata part or in the file's __metadata__")
    _fraction("accuracy", v, f)
    v, f = get("dense_accuracy")
    if v is not None:
        _fraction("dense_accuracy", v, f)
    v, f = get("metric")
    if v is not None:
        _slug("metric", v)
    v, f = get("tags")
    if v is not None:
        items = [t.strip() for t in v.split(",") if t.strip()] if f and isinstance(v, str) else v
        if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
            raise _bad_meta("tags", "must be an array of strings")
        tags = []
        for t in items:
            t = _slug("tags", t)
            if t not in tags:
                tags.append(t)
        if len(tags) > MAX_TAGS:
            raise _bad_meta("tags", f"at most {MAX_TAGS} tags are allowed; got {len(tags)}")
    v, f = get("hyperparameters")
    if v is not None:
        if f:
            try:
                v = json.loads(v)
            except ValueError as e:
                raise _bad_meta("hyperparameters", f"in __metadata__ is not valid JSON: {e}") from None
        if not isinstance(v, dict):
            raise _bad_meta("hyperparameters", "must be a JSON object")
    for field in ("paper_url", "code_url"):
        v, _ = get(field)
        if v is not None and not re.match(r"https?://[^/\s]+", str(v).strip()):
            raise _bad_meta(field, "must be an http or https URL")
    for field in ("description", "license", "parent_id"):
        v, _ = get(field)
        if v is not None and not isinstance(v, str):
            raise _bad_meta(field, "must be a string")
    return from_file
