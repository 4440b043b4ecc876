"""The packed form of a ticket (``GET /api/v1/tickets/{id}/packed``, docs/masks.md):
:func:`unpack` restores the stored tensors from it.

For each packed parameter ``P`` the file holds ``P.bitmask`` (U8, entry ``i`` in bit ``i % 8``
of byte ``i // 8``, least significant bit first) and ``P.values`` (the kept entries of the
stored weights, row-major, in their dtype); ``__metadata__["ticketbooth.packed"]`` (JSON) names,
per parameter, its ``shape``, ``dtype``, the stored ``weights`` and ``mask`` tensor names and
the ``mask_dtype``. Every other tensor is stored as it was.
"""
from __future__ import annotations

import json
import os
import struct
from typing import Any, Dict, Tuple

import numpy as np

from .errors import Invalid

__all__ = ["unpack", "PACKED_FORMAT", "PACKED_VERSION"]

PACKED_FORMAT = "packed"
PACKED_VERSION = 1

# Entry size in bytes of every dtype the registry accepts, and the bit pattern of 1 in each.
_SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "U16": 2, "I16": 2, "U32": 4, "I32": 4, "U64": 8, "I64": 8,
         "F16": 2, "BF16": 2, "F32": 4, "F64": 8, "F8_E4M3": 1, "F8_E5M2": 1}
_ONE = {"BOOL": 1, "U8": 1, "I8": 1, "U16": 1, "I16": 1, "U32": 1, "I32": 1, "U64": 1, "I64": 1,
        "F16": 0x3C00, "BF16": 0x3F80, "F32": 0x3F800000, "F64": 0x3FF0000000000000,
        "F8_E4M3": 0x38, "F8_E5M2": 0x3C}
_UINT = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
_NUMPY = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16,
          "U32": np.uint32, "I32": np.int32, "U64": np.uint64, "I64": np.int64, "F16": np.float16,
          "F32": np.float32, "F64": np.float64}


def _torch_dtype(dtype: str) -> Any:
    import torch

    names = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "U16": "uint16", "I16": "int16",
             "U32": "uint32", "I32": "int32", "U64": "uint64", "I64": "int64", "F16": "float16",
             "BF16": "bfloat16", "F32": "float32", "F64": "float64", "F8_E4M3": "float8_e4m3fn",
             "F8_E5M2": "float8_e5m2"}
    return getattr(torch, names[dtype])


def _read(path: "str | os.PathLike[str]") -> Tuple[Dict[str, Any], Dict[str, str], memoryview]:
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", None) or {}
    return header, meta, memoryview(data)[8 + n:]


def _as(raw: np.ndarray, dtype: str, shape: Any, framework: str) -> Any:
    """Little-endian raw entries (an unsigned array of the dtype's size) as a tensor."""
    raw = raw.astype(raw.dtype.newbyteorder("<"), copy=False)
    if framework == "torch":
        import torch

        buf = bytearray(raw.tobytes())
        t = torch.frombuffer(buf, dtype=_torch_dtype(dtype)) if buf else torch.empty(0, dtype=_torch_dtype(dtype))
        return t.reshape(tuple(shape))
    if dtype not in _NUMPY:
        raise Invalid(f"numpy has no {dtype}: use unpack(path, framework='torch')", code="bad_request")
    return np.frombuffer(raw.tobytes(), dtype=_NUMPY[dtype]).reshape(tuple(shape))


def unpack(path: "str | os.PathLike[str]", framework: str = "numpy") -> Dict[str, Any]:
    """Restores every tensor of the stored file from its packed form: ``name -> tensor`` with the
    stored names (``P_orig`` and ``P_mask``, or ``P``), shapes and dtypes.

    Every mask comes back exactly as 0/1 (``True``/``False`` for BOOL) and every kept value
    exactly; pruned entries of the weights were not shipped and come back as zeros. Tensors
    that were not packed come back as stored. ``framework`` is ``"numpy"`` (no BF16 or FP8
    there) or ``"torch"``.
    """
    if framework not in ("numpy", "torch"):
        raise Invalid(f"framework must be 'numpy' or 'torch'; got {framework!r}", code="bad_request")
    header, meta, data = _read(path)
    if meta.get("ticketbooth.format") != PACKED_FORMAT:
        raise Invalid(f"{path} is not a packed ticket (no ticketbooth.format=packed in __metadata__)",
                      code="bad_request")
    described = json.loads(meta["ticketbooth.packed"])
    if described.get("version") != PACKED_VERSION:
        raise Invalid(f"packed format version {described.get('version')} is not supported by this client "
                      f"(it reads version {PACKED_VERSION}); upgrade ticketbooth", code="bad_request")

    def raw(name: str) -> Tuple[np.ndarray, Dict[str, Any]]:
        entry = header[name]
        begin, end = entry["data_offsets"]
        size = _SIZE[entry["dtype"]]
        return np.frombuffer(data[begin:end], dtype=np.dtype(_UINT[size]).newbyteorder("<")), entry

    out: Dict[str, Any] = {}
    packed_names = set()
    for base, p in described["params"].items():
        packed_names.update({f"{base}.bitmask", f"{base}.values"})
        shape, dtype = p["shape"], p["dtype"]
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        bits, _ = raw(f"{base}.bitmask")
        keep = np.unpackbits(bits.astype(np.uint8), bitorder="little")[:n].astype(bool)
        values, _ = raw(f"{base}.values")
        if int(keep.sum()) != values.size:
            raise Invalid(f"{path}: {base} keeps {int(keep.sum())} entries but has {values.size} values",
                          code="bad_request")
        weights = np.zeros(n, dtype=_UINT[_SIZE[dtype]])
        weights[keep] = values
        out[p["weights"]] = _as(weights, dtype, shape, framework)
        if p.get("mask"):
            mask_dtype = p["mask_dtype"]
            ones = np.zeros(n, dtype=_UINT[_SIZE[mask_dtype]])
            ones[keep] = _ONE[mask_dtype]
            out[p["mask"]] = _as(ones, mask_dtype, shape, framework)
    for name, entry in header.items():
        if name in packed_names:
            continue
        values, _ = raw(name)
        out[name] = _as(values, entry["dtype"], entry["shape"], framework)
    return out
