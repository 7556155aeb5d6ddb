"""Seeded synthetic datasets (``blobs``, ``sequence``).

Every item is a dict ``{"x": float32 tensor, "y": tensor}``; images are channels-last ``(H, W, C)`` and
sequences ``(N, C)``. Generation is vectorised and seeded: the same config gives the same tensors in
every process, and the train/val/test splits are disjoint.

The in-memory helpers these datasets are built with (:class:`~forwardkit.data.TensorSplit`,
:class:`~forwardkit.data.InMemoryDataset`, :func:`~forwardkit.data.stratified_split`,
:func:`~forwardkit.data.random_split`, :func:`~forwardkit.data.split_sizes`) live in
:mod:`forwardkit.data`; their names stay importable from here until the plugins have moved.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from forwardkit.builtin.config import BlobsConfig, SequenceConfig
from forwardkit.data.memory import InMemoryDataset, TensorSplit, UnknownSplitError, take_splits
from forwardkit.data.splits import random_split, split_sizes, stratified_split
from forwardkit.errors import ForwardkitError

__all__ = [
    "BlobsDataset",
    "InMemoryDataset",
    "SequenceDataset",
    "TensorSplit",
    "UnknownSplitError",
    "make_blobs",
    "make_sequence_task",
    "random_split",
    "split_sizes",
    "stratified_split",
]


# ---- blobs ---------------------------------------------------------------------------------------
def make_blobs(
    n_samples: int,
    n_features: int,
    num_classes: int,
    *,
    clusters_per_class: int = 1,
    separation: float = 3.0,
    noise: float = 1.0,
    image_size: int | None = None,
    image_channels: int = 1,
    seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """Gaussian class clusters: ``x`` float32 ``(n, n_features)`` or ``(n, S, S, C)``, ``y`` int64 ``(n,)``.

    Classes are balanced (``n_samples // num_classes`` each, the remainder spread over the first
    classes); each class's samples are spread evenly over its clusters. Every cluster centre lies at
    distance ``separation`` from the origin (with one feature: evenly spaced on ``[-sep, sep]``).
    Image centres are low-resolution random patterns, bilinearly upsampled, so that neighbouring
    pixels are correlated.
    """
    g = torch.Generator().manual_seed(seed)
    n_centres = num_classes * clusters_per_class
    if image_size is not None:
        low = max(2, math.ceil(image_size / 4))
        grid = torch.randn(n_centres, image_channels, low, low, generator=g, dtype=torch.float64)
        centres = F.interpolate(grid, size=(image_size, image_size), mode="bilinear", align_corners=True)
        centres = centres.permute(0, 2, 3, 1).reshape(n_centres, -1)
    else:
        centres = torch.randn(n_centres, n_features, generator=g, dtype=torch.float64)
    if centres.shape[1] == 1:  # on a line: evenly spaced in [-separation, separation], in random order
        line = torch.linspace(-separation, separation, n_centres, dtype=torch.float64)
        centres = line[torch.randperm(n_centres, generator=g)][:, None]
    else:  # centred, then every centre at distance `separation` from the origin
        centres = centres - centres.mean(dim=0, keepdim=True)
        centres = separation * centres / centres.norm(dim=1, keepdim=True).clamp_min(1e-12)
    y = torch.arange(n_samples) % num_classes
    cluster = (torch.arange(n_samples) // num_classes) % clusters_per_class
    y = y[torch.randperm(n_samples, generator=g)]
    cluster = cluster[torch.randperm(n_samples, generator=g)]
    centre_of = y * clusters_per_class + cluster
    x = centres[centre_of] + noise * torch.randn(n_samples, centres.shape[1], generator=g, dtype=torch.float64)
    x = x.float()
    if image_size is not None:
        x = x.reshape(n_samples, image_size, image_size, image_channels)
    return x, y.long()


class BlobsDataset(InMemoryDataset):
    """``blobs``: Gaussian class clusters as vectors ``(n_features,)`` or images ``(S, S, C)``."""

    Config = BlobsConfig

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        c = self.config
        x, y = make_blobs(
            c.n_samples,
            c.n_features,
            c.num_classes,
            clusters_per_class=c.clusters_per_class,
            separation=c.separation,
            noise=c.noise,
            image_size=c.image_size,
            image_channels=c.image_channels,
            seed=c.seed,
        )
        index = stratified_split(y, c.val_fraction, c.test_fraction, seed=c.seed + 1)
        fields = {
            "task": "classification",
            "num_classes": c.num_classes,
            "class_names": [f"class_{k}" for k in range(c.num_classes)],
            "extra": {"source": "generated", "layout": "image" if c.image_size else "vector"},
        }
        return take_splits(x, y, index), fields


# ---- sequences -----------------------------------------------------------------------------------
def make_sequence_task(
    task: str, n_samples: int, length: int, channels: int, *, noise: float = 0.0, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Inputs ``(n, length, channels)`` float32 and targets for ``task`` (see :class:`SequenceConfig`).

    ``count_compare``: int64 labels ``(n,)``, balanced. ``marked_sum``: float32 targets ``(n, 1)``.
    """
    g = torch.Generator().manual_seed(seed)
    n, N, C = n_samples, length, channels
    if task == "count_compare":
        label = torch.arange(n) % 2
        label = label[torch.randperm(n, generator=g)]
        max_gap = max(1, N // 4)
        gap = torch.randint(1, max_gap + 1, (n,), generator=g)
        low = (torch.rand(n, generator=g, dtype=torch.float64) * ((N - max_gap) // 2 + 1)).long()
        n_a = torch.where(label == 1, low + gap, low)
        n_b = torch.where(label == 1, low, low + gap)
        # rank of each position in a random order: the first n_a ranks are A, the next n_b are B
        rank = torch.rand(n, N, generator=g).argsort(dim=1).argsort(dim=1)
        is_a = rank < n_a[:, None]
        is_b = (rank >= n_a[:, None]) & (rank < (n_a + n_b)[:, None])
        x = torch.zeros(n, N, C)
        if C > 2:
            filler = torch.randint(2, C, (n, N), generator=g)
            x.scatter_(2, filler[..., None], 1.0)
        x[is_a | is_b] = 0.0
        x[..., 0][is_a] = 1.0
        x[..., 1][is_b] = 1.0
        y = label.long()
    elif task == "marked_sum":
        x = torch.rand(n, N, C, generator=g) * 2.0 - 1.0
        marks = torch.rand(n, N, generator=g).argsort(dim=1)[:, :2]
        marker = torch.zeros(n, N)
        marker.scatter_(1, marks, 1.0)
        x[..., 1] = marker
        y = x[..., 0].gather(1, marks).sum(dim=1, keepdim=True)
    else:
        raise ForwardkitError(f"unknown sequence task {task!r}; choose 'count_compare' or 'marked_sum'")
    if noise > 0:
        x = x + noise * torch.randn(x.shape, generator=g)
    return x.float().contiguous(), y


class SequenceDataset(InMemoryDataset):
    """``sequence``: ``(length, channels)`` inputs whose target needs mixing across positions."""

    Config = SequenceConfig

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        c = self.config
        x, y = make_sequence_task(c.task, c.n_samples, c.length, c.channels, noise=c.noise, seed=c.seed)
        extra: dict[str, Any] = {"source": "generated", "sequence_task": c.task}
        if c.task == "count_compare":
            index = stratified_split(y, c.val_fraction, c.test_fraction, seed=c.seed + 1)
            fields = {
                "task": "classification",
                "num_classes": 2,
                "class_names": ["count(A) < count(B)", "count(A) > count(B)"],
                "extra": extra,
            }
        else:
            index = random_split(c.n_samples, c.val_fraction, c.test_fraction, seed=c.seed + 1)
            fields = {"task": "regression", "extra": extra}
        return take_splits(x, y, index), fields
