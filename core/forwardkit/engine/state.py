"""Plain-file state: nested Python state with tensors split into JSON + safetensors, written atomically.

Loading never unpickles: the structure is JSON, tensors come from safetensors. Optimizer state dicts,
RNG states and callback states all go through :func:`flatten` / :func:`unflatten`.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

_TENSOR = "__tensor__"
_TUPLE = "__tuple__"
_FLOAT = "__float__"
_INTKEYS = "__intkeys__"


def flatten(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "t") -> Any:
    """Replace every tensor in ``obj`` by a reference and collect it in ``tensors``; returns JSON data.

    A tensor's key is its path in ``obj`` (``t/rule/optimizer/state/0/exp_avg``), so the same state gives
    the same keys in every checkpoint, whatever was saved before it: two checkpoints compare key by key.
    """
    if isinstance(obj, torch.Tensor):
        if prefix in tensors:
            raise ValueError(f"two tensors at the same checkpoint path {prefix!r}")
        tensors[prefix] = obj.detach().cpu().contiguous()
        return {_TENSOR: prefix}
    if isinstance(obj, bool | int | str) or obj is None:
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {_FLOAT: repr(obj)}
    if isinstance(obj, Mapping):
        keys = list(obj.keys())
        if keys and all(isinstance(k, int) for k in keys):  # e.g. optimizer "state" keyed by param index
            return {_INTKEYS: [[k, flatten(obj[k], tensors, f"{prefix}/{k}")] for k in keys]}
        if not all(isinstance(k, str) for k in keys):
            raise TypeError(f"cannot store a mapping with keys {keys!r} (use str or int keys)")
        return {k: flatten(v, tensors, f"{prefix}/{_escape(k)}") for k, v in obj.items()}
    if isinstance(obj, tuple):
        return {_TUPLE: [flatten(v, tensors, f"{prefix}/{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [flatten(v, tensors, f"{prefix}/{i}") for i, v in enumerate(obj)]
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy arrays and scalars
        return flatten(torch.as_tensor(obj), tensors, prefix)
    raise TypeError(f"cannot store an object of type {type(obj).__name__} in a checkpoint")


def _escape(key: str) -> str:
    """A mapping key as one path segment (``/`` and ``~`` escaped as in JSON pointers)."""
    return key.replace("~", "~0").replace("/", "~1")


def unflatten(data: Any, tensors: Mapping[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten`."""
    if isinstance(data, list):
        return [unflatten(v, tensors) for v in data]
    if isinstance(data, dict):
        if _TENSOR in data:
            return tensors[data[_TENSOR]]
        if _TUPLE in data:
            return tuple(unflatten(v, tensors) for v in data[_TUPLE])
        if _FLOAT in data:
            return float(data[_FLOAT])
        if _INTKEYS in data:
            return {int(k): unflatten(v, tensors) for k, v in data[_INTKEYS]}
        return {k: unflatten(v, tensors) for k, v in data.items()}
    return data


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def dumps_json(data: Any) -> str:
    return json.dumps(data, indent=1, sort_keys=True, allow_nan=False)
