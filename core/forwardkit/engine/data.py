"""Deterministic batching: a permutation per (seed, epoch), sharded by rank, resumable at any batch."""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data._utils.collate import default_collate


def epoch_batches(
    n: int, *, batch_size: int, seed: int, epoch: int, shuffle: bool = True, rank: int = 0, world_size: int = 1,
    drop_last: bool = False,
) -> list[list[int]]:
    """Index lists of this rank for one epoch.

    The global order is ``randperm(n)`` from a generator seeded with ``(seed, epoch)`` — so it does not
    depend on any other RNG and a resumed run sees the same order. Each global batch of ``batch_size``
    indices is split across ranks (``rank::world_size``), so ``world_size`` processes see exactly the
    samples one process would.
    """
    if shuffle:
        gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(n, generator=gen).tolist()
    else:
        order = list(range(n))
    stop = (n // batch_size) * batch_size if drop_last else n
    batches = []
    for start in range(0, stop, batch_size):
        batches.append(order[start : start + batch_size][rank::world_size])
    return [b for b in batches if b]


def steps_per_epoch(n: int, batch_size: int, drop_last: bool = False) -> int:
    return n // batch_size if drop_last else math.ceil(n / batch_size)


def loader(dataset: Dataset, batches: list[list[int]], *, num_workers: int = 0) -> Iterable[dict[str, Any]]:
    """Batches (dicts of tensors) for precomputed index lists.

    In-memory splits that expose their tensors as ``dataset.tensors`` (a dict of tensors sharing the
    first dimension) are gathered with one indexing operation per key, as a hand-written loop would;
    anything else goes through a DataLoader that collates dict items per key.
    """
    tensors = getattr(dataset, "tensors", None)
    if num_workers == 0 and isinstance(tensors, dict):
        return (gather(tensors, idx) for idx in batches)
    return DataLoader(dataset, batch_sampler=batches, num_workers=num_workers, collate_fn=default_collate)


def gather(tensors: dict[str, torch.Tensor], indices: list[int]) -> dict[str, torch.Tensor]:
    index = torch.as_tensor(indices, dtype=torch.long)
    return {k: v.index_select(0, index) for k, v in tensors.items()}


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    if device.type == "cpu":
        return batch
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def iterate(dataset: Dataset, batch_size: int, *, num_workers: int = 0) -> Iterator[dict[str, Any]]:
    """Batches in order (for evaluation)."""
    n = len(dataset)  # type: ignore[arg-type]
    batches = [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
    yield from loader(dataset, batches, num_workers=num_workers)


#: added to the seed of the paired split's permutations, so that they differ from the training order's
PAIRED_SEED_OFFSET = 7_777_777_777


def paired_indices(n: int, *, batch_size: int, seed: int, step: int, shuffle: bool = True, rank: int = 0,
                   world_size: int = 1) -> list[int]:
    """Rows of a paired split (``trainer.paired``) for training step ``step`` (0-based), this rank's share.

    The global rows are ``step*batch_size .. step*batch_size + batch_size - 1`` of an endless stream that
    concatenates permutations of ``range(n)``, the k-th drawn from a generator seeded with
    ``(seed, k)`` (the identity with ``shuffle=False``): every row is drawn once per pass, the passes do
    not follow the training split's epochs, and the rows depend only on ``(seed, step)``, so a resumed run
    draws the same ones. The global rows are split across ranks as the training batch is (``rank::world_size``).
    """
    if n <= 0:
        raise ValueError("the paired split is empty")
    rows: list[int] = []
    pos, end = step * batch_size, (step + 1) * batch_size
    while pos < end:
        k, offset = divmod(pos, n)
        take = min(end - pos, n - offset)
        rows.extend(_paired_order(n, seed, k, shuffle)[offset : offset + take])
        pos += take
    return rows[rank::world_size]


@functools.lru_cache(maxsize=4)
def _paired_order(n: int, seed: int, k: int, shuffle: bool) -> tuple[int, ...]:
    if not shuffle:
        return tuple(range(n))
    gen = torch.Generator().manual_seed(PAIRED_SEED_OFFSET + seed * 100_003 + k)
    return tuple(torch.randperm(n, generator=gen).tolist())


def take_rows(dataset: Dataset, indices: list[int], keys: list[str] | None = None) -> dict[str, Any]:
    """The items ``indices`` of ``dataset`` as one batch dict (only ``keys``, when given): gathered from
    ``dataset.tensors`` for in-memory splits, else collated item by item."""
    tensors = getattr(dataset, "tensors", None)
    if isinstance(tensors, dict):
        batch = gather({k: v for k, v in tensors.items() if keys is None or k in keys}, indices)
    else:
        items = [dataset[i] for i in indices]
        batch = default_collate([{k: v for k, v in item.items() if keys is None or k in keys} for item in items])
    missing = [k for k in keys or () if k not in batch]
    if missing:
        raise KeyError(f"the paired split's items have no key(s) {missing} (they have {sorted(batch)})")
    return batch
