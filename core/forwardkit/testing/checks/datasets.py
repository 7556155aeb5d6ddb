"""Checks of datasets: deterministic from the config, items as the metadata says, sizes as declared.

Each looks at the first and last item of every split (the kit does not load whole datasets).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from forwardkit.testing.checks.common import Subject, conformance_check, fail
from forwardkit.testing.checks.helpers import describe_config

__all__ = ["check_dataset_determinism", "check_dataset_items", "check_dataset_sizes"]


def _reseed_all(seed: int) -> None:
    import numpy as np

    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _same_item(a: Any, b: Any) -> bool:
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return (
            isinstance(a, Tensor)
            and isinstance(b, Tensor)
            and a.shape == b.shape
            and a.dtype == b.dtype
            and bool(torch.equal(a, b))
        )
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return list(a) == list(b) and all(_same_item(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same_item(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _splits(ds: Any) -> list[str]:
    splits = list(getattr(ds, "splits", ()))
    if not splits:
        fail("the dataset declares no splits")
    return splits


def _edge_indices(n: int) -> list[int]:
    return sorted({0, n - 1}) if n > 0 else []


def _edge_items(subject: Subject, config: Mapping[str, Any], global_seed: int) -> dict[str, list[Any]]:
    """The first and last item of every split of an instance built after ``global_seed``."""
    _reseed_all(global_seed)
    ds = subject.build(config)
    items: dict[str, list[Any]] = {}
    for split in _splits(ds):
        data = ds.split(split)
        items[split] = [data[i] for i in _edge_indices(len(data))]
    return items


@conformance_check("dataset")
def check_dataset_determinism(subject: Subject, *, configs: Any = None) -> int:
    """Two instances from the same config (built after different global seeds) yield identical first
    and last items in every split: data depend on the config's seed, not on global RNG state."""
    compared = 0
    for config in subject.configs(configs):
        first, second = _edge_items(subject, config, 1), _edge_items(subject, config, 2)
        for split, items in first.items():
            if len(items) != len(second[split]):
                fail(f"split {split!r} has a different size in two instances ({describe_config(config)})")
            for a, b in zip(items, second[split], strict=True):
                if not _same_item(a, b):
                    fail(
                        f"two instances with the same config yield different items in split {split!r} "
                        f"({describe_config(config)}): generate from the config's seed, not global RNG state"
                    )
                compared += 1
    return compared


def _check_item(item: Any, md: Any, split: str, index: int, unlabelled: bool = False) -> None:
    where = f"split {split!r}, item {index}"
    if not isinstance(item, Mapping):
        fail(f"items must be dicts of tensors; {where} is a {type(item).__name__}")
    for key in ("x", "y"):
        if key not in item:
            fail(f"{where} has no {key!r} (keys: {sorted(item)})")
        if not isinstance(item[key], Tensor):
            fail(f"{where}: {key!r} is a {type(item[key]).__name__}, not a tensor")
    x, y = item["x"], item["y"]
    if tuple(x.shape) != tuple(md.input_shape):
        fail(f"{where}: x has shape {tuple(x.shape)} but metadata.input_shape is {tuple(md.input_shape)}")
    if tuple(y.shape) != tuple(md.target_shape):
        fail(f"{where}: y has shape {tuple(y.shape)} but metadata.target_shape is {tuple(md.target_shape)}")
    for key, t in (("x", x), ("y", y)):
        if t.is_floating_point() and not torch.isfinite(t).all():
            fail(f"{where}: {key} has non-finite values")
    if md.task == "classification":
        if md.num_classes is None:
            fail("metadata.task is 'classification' but metadata.num_classes is None")
        if y.is_floating_point():
            fail(f"{where}: classification targets must be integer class indices, got {y.dtype}")
    if unlabelled:  # a declared unlabelled split: every label is the placeholder -1
        if y.is_floating_point() or (y.numel() and bool((y != -1).any())):
            fail(f"{where}: split {split!r} is declared unlabelled (unlabelled_splits) but y is not -1 everywhere")
        return
    if md.num_classes is not None and not y.is_floating_point() and y.dtype != torch.bool and y.numel():
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= md.num_classes:
            fail(
                f"{where}: class index {low if low < 0 else high} outside [0, {md.num_classes}) (metadata.num_classes)"
            )


def _check_metadata(md: Any) -> None:
    from forwardkit.interfaces.dataset import DatasetMetadata

    if not isinstance(md, DatasetMetadata):
        fail(f"metadata must be a DatasetMetadata, got {type(md).__name__}")
    if md.class_names is not None and md.num_classes is not None and len(md.class_names) != md.num_classes:
        fail(f"metadata lists {len(md.class_names)} class_names but num_classes is {md.num_classes}")


@conformance_check("dataset")
def check_dataset_items(subject: Subject, *, configs: Any = None) -> int:
    """The first and last item of every split is a dict with tensors ``x`` and ``y`` whose shapes are
    ``metadata.input_shape``/``target_shape``, finite, with integer class indices in
    ``[0, num_classes)`` (classification needs ``num_classes``; ``class_names`` matches it), or -1 in
    the splits the dataset declares ``unlabelled_splits``."""
    total = 0
    for config in subject.configs(configs):
        ds = subject.build(config)
        md = ds.metadata
        _check_metadata(md)
        checked = 0
        for split in _splits(ds):
            data = ds.split(split)
            unlabelled = split in tuple(getattr(ds, "unlabelled_splits", ()))
            for i in _edge_indices(len(data)):
                _check_item(data[i], md, split, i, unlabelled)
                checked += 1
        if checked == 0:
            fail(f"every split is empty ({describe_config(config)})")
        total += checked
    return total


@conformance_check("dataset")
def check_dataset_sizes(subject: Subject, *, configs: Any = None) -> int:
    """``metadata.sizes`` names exactly the dataset's splits, and ``len(split(name))`` equals it."""
    checked = 0
    for config in subject.configs(configs):
        ds = subject.build(config)
        md = ds.metadata
        splits = _splits(ds)
        missing = [s for s in splits if s not in md.sizes]
        if missing:
            fail(f"metadata.sizes has no entry for split(s) {missing} (sizes: {md.sizes})")
        extra = [s for s in md.sizes if s not in splits]
        if extra:
            fail(f"metadata.sizes names split(s) {extra} the dataset does not declare (splits: {splits})")
        for split in splits:
            n = len(ds.split(split))
            if n != md.sizes[split]:
                fail(
                    f"split {split!r} has {n} items but metadata.sizes says {md.sizes[split]} "
                    f"({describe_config(config)})"
                )
            checked += 1
    return checked
