"""``synthetic_membranes``: EM-like images of cells and their membranes, generated offline.

Each image (``render_membranes``) is a Voronoi tessellation of Poisson-many random seeds (3-D: seeds in an
anisotropic volume, sections ``anisotropy`` pixels apart); cell boundaries are dark bands ``boundary_width`` px
wide on a bright interior whose grey level varies per cell, plus a smooth texture; the clean image is blurred,
degraded by Poisson (``photons`` counts at intensity 1) and Gaussian (``noise_std``) noise, and min-max scaled to
[0, 1], as the official loader scales EM volumes. Targets: the boundary mask ``y`` (int64, 1 = membrane) and the
instance labels ``labels`` (int64, 0 on membranes, 1..n for the cells).

Image ``i`` of a split is drawn from ``numpy.random.default_rng([seed, stream, i])`` with one stream per split
(unlabelled, labelled train, val, test), so the splits are independent draws and an image does not depend on
the sizes of the other splits. Generated sets are cached per process.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from forwardkit.data import InMemoryDataset, TensorSplit
from forwardkit_tokenunify.config import MembranesConfig

STREAMS = {"unlabelled": 0, "train": 1, "val": 2, "test": 3}


def render_membranes(rng: np.random.Generator, *, size: int = 64, depth: int = 1, anisotropy: float = 4.0,
                     cells_per_image: float = 12.0, boundary_width: int = 2, texture: float = 0.08,
                     blur_sigma: float = 1.0, noise_std: float = 0.15, photons: float = 60.0,
                     missing_section_prob: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image: ``(x float32 in [0, 1], boundary int64, labels int64)``, each ``(size, size)`` or
    ``(depth, size, size)``."""
    shape = (size, size) if depth == 1 else (depth, size, size)
    n = max(2, int(rng.poisson(cells_per_image)))
    scale = np.array([1.0] * 2 if depth == 1 else [anisotropy, 1.0, 1.0])
    extent = np.array(shape, dtype=float) * scale
    seeds = rng.uniform(0.0, 1.0, (n, len(shape))) * extent
    coords = np.stack(np.meshgrid(*[np.arange(s, dtype=float) + 0.5 for s in shape], indexing="ij"), -1) * scale
    d2 = ((coords[..., None, :] - seeds) ** 2).sum(-1)
    cells = d2.argmin(-1)
    boundary = np.zeros(shape, dtype=bool)
    in_plane = range(len(shape) - 2, len(shape))  # membranes are drawn in each section (EM: a 2-D cut)
    for axis in in_plane:
        a = [slice(None)] * len(shape)
        b = [slice(None)] * len(shape)
        a[axis], b[axis] = slice(1, None), slice(None, -1)
        edge = cells[tuple(a)] != cells[tuple(b)]
        boundary[tuple(b)] |= edge
        if boundary_width >= 2:
            boundary[tuple(a)] |= edge
    for extra in range(boundary_width - 2):
        axis = list(in_plane)[extra % 2]
        boundary |= np.roll(boundary, 1, axis=axis)
    level = 0.7 + 0.1 * rng.uniform(-1.0, 1.0, n)
    img = level[cells]
    if texture > 0:
        sigma = (0.0, 2.0, 2.0) if depth > 1 else 2.0
        tex = ndimage.gaussian_filter(rng.normal(size=shape), sigma)
        img = img + texture * tex / (tex.std() + 1e-8)
    img = np.where(boundary, 0.15, img)
    if blur_sigma > 0:
        img = ndimage.gaussian_filter(img, (0.0, blur_sigma, blur_sigma) if depth > 1 else blur_sigma)
    img = rng.poisson(np.clip(img, 0.0, 1.0) * photons) / photons
    img = img + rng.normal(0.0, noise_std, shape)
    if depth > 1 and missing_section_prob > 0:
        img[rng.uniform(size=depth) < missing_section_prob] = img.min()
    img = (img - img.min()) / max(float(img.max() - img.min()), 1e-8)
    labels = np.where(boundary, 0, cells + 1)
    return img.astype(np.float32), boundary.astype(np.int64), labels.astype(np.int64)


def _render_kwargs(cfg: MembranesConfig) -> dict[str, Any]:
    return {k: getattr(cfg, k) for k in ("size", "depth", "anisotropy", "cells_per_image", "boundary_width",
                                          "texture", "blur_sigma", "noise_std", "photons", "missing_section_prob")}


@functools.lru_cache(maxsize=16)
def _generate(seed: int, stream: int, n: int, kwargs: tuple[tuple[str, Any], ...]) -> tuple[torch.Tensor, ...]:
    xs, ys, ls = [], [], []
    for i in range(n):
        x, y, lab = render_membranes(np.random.default_rng([seed, stream, i]), **dict(kwargs))
        xs.append(x)
        ys.append(y)
        ls.append(lab)
    return (torch.from_numpy(np.stack(xs))[..., None], torch.from_numpy(np.stack(ys)),
            torch.from_numpy(np.stack(ls)))


def generate_split(cfg: MembranesConfig, split: str, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x (n, *shape, 1), boundary (n, *shape), labels (n, *shape))`` of one split (cached per process)."""
    x, y, lab = _generate(cfg.seed, STREAMS[split], n, tuple(sorted(_render_kwargs(cfg).items())))
    return x.clone(), y.clone(), lab.clone()


class SyntheticMembranes(InMemoryDataset):
    """EM-like membrane images (see the module docstring). Role ``pretrain``: one unlabelled ``train`` split;
    role ``finetune``: labelled ``train``, optional ``val``, and ``test``."""

    Config = MembranesConfig
    conformance_configs = ({"size": 8, "n_unlabelled": 3, "n_labelled": 3, "n_test": 2, "cells_per_image": 3.0},
                           {"role": "pretrain", "size": 8, "n_unlabelled": 3, "cells_per_image": 3.0},
                           {"size": 8, "depth": 3, "n_labelled": 2, "n_test": 2, "n_val": 1, "cells_per_image": 3.0,
                            "missing_section_prob": 0.3})

    def __init__(self, config: MembranesConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        if cfg.role == "pretrain":
            self.splits = ("train",)  # type: ignore[misc]
            self.unlabelled_splits = ("train",)  # type: ignore[misc]
        else:
            self.splits = ("train", "val", "test") if cfg.n_val else ("train", "test")  # type: ignore[misc]

    def build(self) -> tuple[Mapping[str, TensorSplit], dict[str, Any]]:
        cfg = self.config
        fields: dict[str, Any] = {"task": "em_boundary", "num_classes": 2, "class_names": ["interior", "membrane"],
                                  "extra": {"role": cfg.role, "labels_key": "labels"}}
        if cfg.role == "pretrain":
            x, y, _ = generate_split(cfg, "unlabelled", cfg.n_unlabelled)
            return {"train": TensorSplit(x, torch.full_like(y, -1))}, fields
        sizes = {"train": cfg.n_labelled, "val": cfg.n_val, "test": cfg.n_test}
        out = {}
        for split in self.splits:
            x, y, lab = generate_split(cfg, split, sizes[split])
            out[split] = TensorSplit(x, y, labels=lab)
        return out, fields
