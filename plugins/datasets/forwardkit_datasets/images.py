"""Crops of scikit-image's bundled pictures: the ``textures`` dataset and the functions behind it.

The functions are building blocks for other datasets (backgrounds for digits pasted on textures,
domain shift between sources, augmentation studies):

* :func:`load_image` — one bundled picture as float32 ``(H, W, C)`` in ``[0, 1]``, grey or RGB;
* :func:`band` — the pixel range of a share of a picture's longer side (disjoint regions per split);
* :func:`crop_positions` / :func:`random_crops` — ``n`` seeded square crops of one picture (their
  corners / their pixels), optionally inside a band (:func:`split_region` gives a split's band);
* :func:`texture_crops` — crops of several pictures with their class (source) labels;
* :func:`iter_crops` — an endless, seeded stream of crop batches.

Only pictures that ship inside the scikit-image wheel are allowed (see
:data:`forwardkit_datasets.config.TEXTURE_SOURCES`); nothing is downloaded.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from forwardkit.errors import ForwardkitError
from forwardkit_datasets.common import InMemoryDataset, TensorSplit, fit_standardizer, load_offline
from forwardkit_datasets.config import TEXTURE_SOURCES, TexturesConfig

__all__ = [
    "TexturesDataset",
    "band",
    "crop_positions",
    "crop_rng",
    "iter_crops",
    "load_image",
    "random_crops",
    "split_region",
    "texture_crops",
]

#: ITU-R BT.709 luminance weights (those of ``skimage.color.rgb2gray``)
LUMA = np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)
_SPLIT_ID = {"train": 0, "val": 1, "test": 2}


@lru_cache(maxsize=32)
def _raw_image(name: str) -> np.ndarray:
    if name not in TEXTURE_SOURCES:
        raise ForwardkitError(
            f"{name!r} is not a bundled scikit-image picture this plugin uses; choose from: "
            + ", ".join(TEXTURE_SOURCES)
        )

    def load() -> np.ndarray:
        import skimage.data

        return np.asarray(getattr(skimage.data, name)())

    image = load_offline("textures", f"skimage.data.{name}()", "scikit-image", load)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    image = image.astype(np.uint8, copy=False)
    image.setflags(write=False)
    return image


def load_image(name: str, color: str = "gray") -> np.ndarray:
    """Bundled picture ``name`` as float32 ``(H, W, 1)`` (``color='gray'``) or ``(H, W, 3)`` in ``[0, 1]``.

    RGB pictures become grey by luminance; grey pictures become RGB by repeating the channel; an alpha
    channel is dropped.
    """
    image = _raw_image(name).astype(np.float32) / 255.0
    if image.ndim == 2:
        image = image[..., None]
    image = image[..., :3]
    if color == "gray":
        return image if image.shape[-1] == 1 else (image @ LUMA)[..., None]
    if color == "rgb":
        return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else np.ascontiguousarray(image)
    raise ForwardkitError(f"unknown color {color!r}; choose 'gray' or 'rgb'")


def band(shape: Sequence[int], lo: float, hi: float) -> tuple[int, int, int]:
    """``(axis, start, stop)``: the pixels from share ``lo`` to ``hi`` of the longer side of ``shape``."""
    axis = 0 if shape[0] >= shape[1] else 1
    length = shape[axis]
    return axis, int(np.floor(lo * length)), int(np.floor(hi * length))


def crop_positions(
    shape: Sequence[int],
    n: int,
    crop: int,
    *,
    rng: np.random.Generator | int = 0,
    region: tuple[int, int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners ``(rows, cols)`` of ``n`` seeded ``crop x crop`` windows inside a picture of
    ``shape`` ``(H, W, ...)``; with ``region`` ``(axis, start, stop)`` (see :func:`band`) every window
    lies inside those pixels of that axis."""
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    h, w = int(shape[0]), int(shape[1])
    lo = [0, 0]
    hi = [h, w]
    if region is not None:
        axis, start, stop = region
        lo[axis], hi[axis] = start, stop
    if hi[0] - lo[0] < crop or hi[1] - lo[1] < crop:
        raise ForwardkitError(
            f"a {crop}x{crop} crop does not fit in rows {lo[0]}:{hi[0]}, columns {lo[1]}:{hi[1]} of a "
            f"{h}x{w} picture; use a smaller crop, larger region shares, or split_by='random'"
        )
    rows = rng.integers(lo[0], hi[0] - crop + 1, size=n)
    cols = rng.integers(lo[1], hi[1] - crop + 1, size=n)
    return rows, cols


def random_crops(
    image: np.ndarray,
    n: int,
    crop: int,
    *,
    rng: np.random.Generator | int = 0,
    region: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """``n`` square crops ``(n, crop, crop, C)`` of ``image`` ``(H, W, C)`` at seeded uniform positions
    (those of :func:`crop_positions` with the same arguments)."""
    if image.ndim == 2:
        image = image[..., None]
    ys, xs = crop_positions(image.shape, n, crop, rng=rng, region=region)
    offsets = np.arange(crop)
    rows = (ys[:, None] + offsets)[:, :, None]
    cols = (xs[:, None] + offsets)[:, None, :]
    return np.ascontiguousarray(image[rows, cols])


def split_region(
    shape: Sequence[int], split: str, regions: tuple[float, float, float] | None
) -> tuple[int, int, int] | None:
    """The band ``(axis, start, stop)`` of ``split`` in a picture of ``shape`` (``None`` without regions)."""
    if split not in _SPLIT_ID:
        raise ForwardkitError(f"unknown split {split!r}; choose 'train', 'val' or 'test'")
    if regions is None:
        return None
    k = _SPLIT_ID[split]
    bounds = np.cumsum((0.0, *regions))
    return band(shape, float(bounds[k]), float(bounds[k + 1]))


def crop_rng(seed: int, split: str, name: str) -> np.random.Generator:
    """The generator of the crops of picture ``name`` in ``split``: it depends on nothing else."""
    return np.random.default_rng([seed, _SPLIT_ID[split], zlib.crc32(name.encode())])


def texture_crops(
    names: Sequence[str],
    n_per_class: int,
    crop: int,
    *,
    color: str = "gray",
    seed: int = 0,
    split: str = "train",
    regions: tuple[float, float, float] | None = (0.6, 0.2, 0.2),
) -> tuple[np.ndarray, np.ndarray]:
    """Crops of each picture in ``names`` with its index as label: ``(k*n, crop, crop, C)`` float32 in
    ``[0, 1]`` and int64 ``(k*n,)``, grouped by class.

    With ``regions`` the crops of ``split`` come from that split's band of each picture (disjoint from
    the other splits' bands); with ``None`` from anywhere. The positions depend on ``(seed, split,
    picture)`` only, so adding a picture does not move the crops of the others.
    """
    xs, ys = [], []
    for label, name in enumerate(names):
        image = load_image(name, color)
        region = split_region(image.shape, split, regions)
        xs.append(random_crops(image, n_per_class, crop, rng=crop_rng(seed, split, name), region=region))
        ys.append(np.full(n_per_class, label, dtype=np.int64))
    channels = 1 if color == "gray" else 3
    x = np.concatenate(xs) if xs else np.zeros((0, crop, crop, channels), np.float32)
    y = np.concatenate(ys) if ys else np.zeros(0, np.int64)
    return x.astype(np.float32, copy=False), y


def iter_crops(
    names: Sequence[str],
    batch_size: int,
    crop: int,
    *,
    color: str = "gray",
    seed: int = 0,
    split: str = "train",
    regions: tuple[float, float, float] | None = (0.6, 0.2, 0.2),
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """An endless stream of batches ``(x, y)``: ``batch_size`` crops of sources drawn uniformly.

    Deterministic under ``seed``; useful as a background or augmentation source for other datasets.
    """
    images = [load_image(name, color) for name in names]
    bands = [split_region(image.shape, split, regions) for image in images]
    rng = np.random.default_rng([seed, _SPLIT_ID[split], 7919])
    while True:
        labels = rng.integers(0, len(images), size=batch_size)
        x = np.empty((batch_size, crop, crop, images[0].shape[-1]), np.float32)
        for label in np.unique(labels):
            where = np.flatnonzero(labels == label)
            x[where] = random_crops(images[label], len(where), crop, rng=rng, region=bands[label])
        yield x, labels.astype(np.int64)


class TexturesDataset(InMemoryDataset):
    """``textures``: classify which bundled picture a square crop comes from."""

    Config = TexturesConfig

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        c = self.config
        regions = c.regions if c.split_by == "region" else None
        counts = {"train": c.train_per_class, "val": c.val_per_class, "test": c.test_per_class}
        arrays = {}
        for split, n in counts.items():
            x, y = texture_crops(c.images, n, c.crop, color=c.color, seed=c.seed, split=split, regions=regions)
            # interleave the classes with a seeded permutation (items of one class are not contiguous)
            perm = np.random.default_rng([c.seed, _SPLIT_ID[split], 1]).permutation(len(y))
            arrays[split] = (x[perm], y[perm])
        stats: dict[str, Any] = {"normalize": c.normalize, "scale": 255.0}
        if c.normalize == "standardize":
            mean, std = fit_standardizer(arrays["train"][0], axis=(0, 1, 2))
            arrays = {s: (((x - mean) / std).astype(np.float32), y) for s, (x, y) in arrays.items()}
            stats.update(mean=[float(v) for v in mean], std=[float(v) for v in std])
        splits = {
            s: TensorSplit(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y))
            for s, (x, y) in arrays.items()
        }
        extra = {
            "source": "skimage.data",
            "images": list(c.images),
            "licenses": {name: TEXTURE_SOURCES[name] for name in c.images},
            "split_by": c.split_by,
            **stats,
        }
        return splits, {
            "task": "classification",
            "num_classes": len(c.images),
            "class_names": list(c.images),
            "extra": extra,
        }
