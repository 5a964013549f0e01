"""Compressed storage of pruned weights in native checkpoints (format version 2).

Each floating-point tensor of a pruned model's ``state_dict`` is stored in whichever of three
encodings is smallest, so a checkpoint really shrinks with unstructured sparsity:

- ``dense``: the tensor itself;
- ``bitmask``: a packed bit per entry (``uint8``, ``numel / 8`` bytes) saying which entries are non-zero,
  plus the non-zero values in order -- best at moderate sparsity (smaller than dense below ~97% density);
- ``csr``: compressed sparse rows over the tensor viewed as ``[shape[0], -1]``: ``crow`` and ``col``
  indices in the narrowest integer type that holds them, plus the values -- best at extreme sparsity.

Encoded tensors are plain dicts of tensors, ints and strings, so the checkpoint still loads with
``torch.load(weights_only=True)``.  Masks (True = kept) are stored packed, one bit per weight.
Decoding is exact: values are stored in their original dtype.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

ENCODING_KEY = "gnneval-encoding"


def _nbytes(t: Any) -> int:
    return int(t.numel() * t.element_size())


def _int_type(max_value: int) -> Any:
    import torch

    for dtype, limit in ((torch.int16, 2**15 - 1), (torch.int32, 2**31 - 1)):
        if max_value <= limit:
            return dtype
    return torch.int64


def pack_bits(mask: torch.Tensor) -> dict[str, Any]:
    import torch

    flat = mask.detach().cpu().flatten().numpy().astype(bool)
    return {ENCODING_KEY: "bits", "shape": list(mask.shape), "bits": torch.from_numpy(np.packbits(flat))}


def unpack_bits(obj: dict[str, Any]) -> torch.Tensor:
    import torch

    n = int(np.prod(obj["shape"])) if obj["shape"] else 1
    if int(obj["bits"].numel()) != (n + 7) // 8:
        raise ValueError(f"a bit mask declares {n} entries but stores {int(obj['bits'].numel()) * 8} bits")
    flat = np.unpackbits(obj["bits"].numpy())[:n].astype(bool)
    return torch.from_numpy(flat.copy()).view(*obj["shape"])


def encode(t: torch.Tensor) -> torch.Tensor | dict[str, Any]:
    """The smallest encoding of ``t`` (the tensor itself when that is smallest or it is not float)."""
    import torch

    t = t.detach().cpu()
    if not t.is_floating_point() or t.dim() == 0 or t.numel() < 64:
        return t.clone()
    nz = t != 0
    values = t[nz].clone()
    options: list[tuple[int, Any]] = [(_nbytes(t), None)]
    bits = pack_bits(nz)
    options.append((_nbytes(bits["bits"]) + _nbytes(values), "bitmask"))
    rows = t.reshape(t.shape[0], -1)
    counts = (rows != 0).sum(1)
    crow = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(counts, 0)])
    crow = crow.to(_int_type(int(crow[-1])))
    col = torch.nonzero(rows != 0)[:, 1].to(_int_type(max(rows.shape[1] - 1, 0)))
    options.append((_nbytes(crow) + _nbytes(col) + _nbytes(values), "csr"))
    _size, best = min(options, key=lambda o: o[0])
    if best is None:
        return t.clone()
    if best == "bitmask":
        return {ENCODING_KEY: "bitmask", "shape": list(t.shape), "bits": bits["bits"], "values": values}
    return {ENCODING_KEY: "csr", "shape": list(t.shape), "crow": crow, "col": col, "values": values}


def declared_size(obj: Any) -> int:
    """Elements the (encoded) tensor stands for, from what it declares; ValueError if that is not a shape."""
    import torch

    from gnneval.core.limits import declared_numel

    if isinstance(obj, torch.Tensor):
        return int(obj.numel())
    if not isinstance(obj, dict) or "shape" not in obj:
        raise ValueError("an entry of the state_dict is neither a tensor nor an encoded tensor")
    return declared_numel(obj["shape"], "an encoded tensor")


def _check_consistent(kind: str, obj: dict[str, Any], shape: list[int]) -> None:
    """The stored arrays must be exactly what the declared shape needs, before anything is allocated."""
    n = int(np.prod(shape)) if shape else 1
    values = obj["values"]
    if kind == "bitmask":
        if int(obj["bits"].numel()) != (n + 7) // 8:
            raise ValueError(f"a bitmask tensor declares {n} entries but stores {int(obj['bits'].numel()) * 8} bits")
        if int(np.unpackbits(obj["bits"].numpy())[:n].sum()) != int(values.numel()):
            raise ValueError("a bitmask tensor's non-zero count does not match its stored values")
    elif kind == "csr":
        crow, col = obj["crow"].long(), obj["col"].long()
        rows, cols = shape[0], (int(np.prod(shape[1:])) if len(shape) > 1 else 1)
        if crow.numel() != rows + 1 or int(crow[0]) != 0 or bool((crow[1:] < crow[:-1]).any()):
            raise ValueError(f"a CSR tensor declares {rows} rows but its row pointers do not describe them")
        if int(crow[-1]) != int(values.numel()) or col.numel() != values.numel():
            raise ValueError("a CSR tensor's row pointers, columns and values disagree in length")
        if col.numel() and (int(col.min()) < 0 or int(col.max()) >= cols):
            raise ValueError(f"a CSR tensor has a column index outside its {cols} columns")


def decode(obj: torch.Tensor | dict[str, Any]) -> torch.Tensor:
    """The tensor an :func:`encode` result stands for; ValueError when the stored arrays do not match the
    declared shape (checked before anything is allocated)."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj
    kind = obj.get(ENCODING_KEY) if isinstance(obj, dict) else None
    shape = list(obj["shape"]) if kind else []
    declared_size(obj)
    if kind in ("bitmask", "csr"):
        _check_consistent(kind, obj, shape)
    if kind == "bitmask":
        nz = unpack_bits({"shape": shape, "bits": obj["bits"]})
        out = torch.zeros(shape, dtype=obj["values"].dtype)
        out[nz] = obj["values"]
        return out
    if kind == "csr":
        rows, cols = shape[0], int(np.prod(shape[1:])) if len(shape) > 1 else 1
        crow = obj["crow"].long()
        row_of = torch.repeat_interleave(torch.arange(rows), crow[1:] - crow[:-1])
        out = torch.zeros(rows, cols, dtype=obj["values"].dtype)
        out[row_of, obj["col"].long()] = obj["values"]
        return out.view(*shape)
    if kind == "bits":
        return unpack_bits(obj)
    raise ValueError(f"unknown tensor encoding {kind!r}")


def encoded_bytes(obj: torch.Tensor | dict[str, Any]) -> int:
    """Bytes of tensor data an encoding holds (what it costs on disk, before the archive's overhead)."""
    import torch

    if isinstance(obj, torch.Tensor):
        return _nbytes(obj)
    return sum(_nbytes(v) for v in obj.values() if isinstance(v, torch.Tensor))
