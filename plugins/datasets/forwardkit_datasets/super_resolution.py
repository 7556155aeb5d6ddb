"""Super-resolution pairs from photos that ship inside installed packages: the ``sr_patches`` dataset.

The HR photos are scikit-image's bundled pictures (``skimage.data``: astronaut, coffee, chelsea, rocket,
hubble_deep_field, immunohistochemistry, camera) and scikit-learn's two sample photos (china, flower; the
JPEG files inside the installed package, read with Pillow without importing scikit-learn). Nothing is
downloaded. Every photo is RGB uint8 (the grey ``camera`` repeated over the channels).

Degradation, as the bicubic SR benchmarks build it: the HR photo is cropped to a multiple of the scale
(:func:`modcrop`, top-left kept), then downscaled by ``s`` with Pillow's antialiased bicubic filter on the 8-bit
image (:func:`bicubic_downscale`; the LR image is uint8, as a saved LR PNG is). Pillow's bicubic
(``a = -0.5``, support widened by ``s``) is close to, but not bit-identical with, MATLAB's ``imresize`` that the
published benchmarks (DIV2K, Set5, ...) use, so numbers are comparable between runs here, not with tables.

Splits are by photo. ``train``: ``patches_per_epoch`` aligned crops of the training photos — a photo drawn
uniformly, an LR position uniformly inside it, the HR crop at ``s`` times that position — each with one of
the 8 flips/rotations (seeded) when ``augment``; the positions are drawn once from the seed and the crops
are cut when an item is read (so the split costs the photos' memory only). ``val``: ``val_patches`` aligned
crops of the held-out photos, no augmentation. ``test``: the held-out photos whole, LR ``(h, w, 3)`` and HR
``(s h, s w, 3)``; their sizes differ, so evaluate the test split with batch size 1 (a larger batch raises a
clear error). Items are ``{"x": LR, "y": HR}`` float32 in ``[0, 1]``, channels-last; ``metadata.task`` is
``image_restoration`` (PSNR/SSIM on the Y channel, crop border = scale; :mod:`forwardkit_datasets.restoration`).
"""

from __future__ import annotations

import importlib.util
import zlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset as TorchDataset

from forwardkit.data import UnknownSplitError
from forwardkit.errors import ForwardkitError
from forwardkit.interfaces.dataset import Dataset, DatasetMetadata
from forwardkit_datasets.common import load_offline
from forwardkit_datasets.config import SR_SOURCES, SRPatchesConfig

__all__ = ["FullImageSplit", "PatchSplit", "SRPatches", "bicubic_downscale", "dihedral", "load_photo",
           "lr_hr_pair", "modcrop", "patch_positions"]

#: the photos that come with scikit-learn (``sklearn/datasets/images/<name>.jpg``) rather than scikit-image
SKLEARN_PHOTOS: tuple[str, ...] = ("china", "flower")
_SPLIT_ID = {"train": 0, "val": 1, "test": 2}


def _sklearn_photo(name: str) -> np.ndarray:
    """``sklearn.datasets.load_sample_image(name + '.jpg')``, read with Pillow from the installed file."""
    from PIL import Image

    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise ImportError("No module named 'sklearn'")
    path = Path(spec.origin).parent / "datasets" / "images" / f"{name}.jpg"
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _skimage_photo(name: str) -> np.ndarray:
    import skimage.data

    return np.asarray(getattr(skimage.data, name)())


@lru_cache(maxsize=16)
def load_photo(name: str) -> np.ndarray:
    """Bundled photo ``name`` (see :data:`~forwardkit_datasets.config.SR_SOURCES`) as read-only uint8
    ``(H, W, 3)``; a grey picture is repeated over the three channels."""
    if name not in SR_SOURCES:
        raise ForwardkitError(f"{name!r} is not a bundled photo sr_patches uses; choose from: {', '.join(SR_SOURCES)}")
    if name in SKLEARN_PHOTOS:
        image = load_offline("sr_patches", f"sklearn.datasets.load_sample_image('{name}.jpg')", "scikit-learn",
                             lambda: _sklearn_photo(name))
    else:
        image = load_offline("sr_patches", f"skimage.data.{name}()", "scikit-image", lambda: _skimage_photo(name))
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    image = np.ascontiguousarray(image[..., :3])
    image.setflags(write=False)
    return image


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """``image`` ``(H, W, ...)`` cropped to ``(H - H % s, W - W % s)`` (top-left kept), as the SR benchmarks do."""
    h, w = image.shape[0] - image.shape[0] % scale, image.shape[1] - image.shape[1] % scale
    return image[:h, :w]


def bicubic_downscale(image: np.ndarray, scale: int) -> np.ndarray:
    """uint8 ``(H, W, 3)`` with ``H, W`` multiples of ``scale`` -> uint8 ``(H / s, W / s, 3)``: Pillow's
    antialiased bicubic (``Image.resize(..., BICUBIC)``, the kernel widened by ``s``), rounded to 8 bits."""
    from PIL import Image

    h, w = image.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f"a {h}x{w} image is not a multiple of scale {scale}: modcrop it first")
    resized = Image.fromarray(np.ascontiguousarray(image)).resize((w // scale, h // scale), Image.Resampling.BICUBIC)
    return np.asarray(resized, dtype=np.uint8)


@lru_cache(maxsize=64)
def lr_hr_pair(name: str, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """``(LR, HR)`` uint8 of photo ``name``: HR modcropped to a multiple of ``scale``, LR its bicubic downscale."""
    hr = modcrop(load_photo(name), scale)
    lr = bicubic_downscale(hr, scale)
    hr = np.ascontiguousarray(hr)
    for a in (lr, hr):
        a.setflags(write=False)
    return lr, hr


def patch_positions(shapes: Sequence[Sequence[int]], n: int, patch: int, rng: np.random.Generator,
                    *, augment: bool) -> np.ndarray:
    """``(n, 4)`` int64 rows ``(image, row, col, transform)``: an image index drawn uniformly, the top-left
    corner of a ``patch x patch`` crop drawn uniformly inside it, and a dihedral transform in ``0..7``
    (always 0 without ``augment``)."""
    for i, shape in enumerate(shapes):
        if shape[0] < patch or shape[1] < patch:
            raise ForwardkitError(f"an LR patch of {patch} does not fit in image {i} ({shape[0]}x{shape[1]} at this "
                                  "scale); use a smaller lr_patch")
    which = rng.integers(0, len(shapes), size=n)
    limits = np.array([[s[0] - patch + 1, s[1] - patch + 1] for s in shapes], dtype=np.int64)[which]
    rows = np.floor(rng.random(n) * limits[:, 0]).astype(np.int64)
    cols = np.floor(rng.random(n) * limits[:, 1]).astype(np.int64)
    transforms = rng.integers(0, 8, size=n) if augment else np.zeros(n, dtype=np.int64)
    return np.stack([which, rows, cols, transforms], axis=1).astype(np.int64)


def dihedral(image: np.ndarray, transform: int) -> np.ndarray:
    """One of the 8 flips/rotations of ``image`` ``(H, W, C)``: ``rot90`` by ``transform % 4``, then a
    left-right flip when ``transform >= 4``."""
    out = np.rot90(image, int(transform) % 4, axes=(0, 1))
    return out[:, ::-1] if transform >= 4 else out


def _unit(image: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32) / np.float32(255.0))


class PatchSplit(TorchDataset):
    """Aligned LR/HR patches cut on access: item ``i`` is ``{"x": (P, P, 3), "y": (sP, sP, 3)}`` float32 in
    ``[0, 1]`` at ``positions[i]`` (see :func:`patch_positions`) of ``pairs[image]``."""

    def __init__(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]], positions: np.ndarray, *, patch: int,
                 scale: int) -> None:
        self.pairs, self.positions, self.patch, self.scale = list(pairs), positions, patch, scale

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        image, row, col, transform = (int(v) for v in self.positions[index])
        lr, hr = self.pairs[image]
        p, s = self.patch, self.scale
        x = dihedral(lr[row : row + p, col : col + p], transform)
        y = dihedral(hr[s * row : s * (row + p), s * col : s * (col + p)], transform)
        return {"x": _unit(x), "y": _unit(y)}

    def __repr__(self) -> str:
        return f"PatchSplit(n={len(self)}, x=({self.patch}, {self.patch}, 3), scale={self.scale})"


class FullImageSplit(TorchDataset):
    """Whole LR/HR photos: item ``i`` is ``{"x": (h_i, w_i, 3), "y": (s h_i, s w_i, 3)}`` float32 in ``[0, 1]``
    (``names[i]``); the sizes differ between photos, so batches hold one photo (or photos of one size)."""

    def __init__(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]], names: Sequence[str]) -> None:
        self.pairs, self.names = list(pairs), list(names)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        lr, hr = self.pairs[index]
        return {"x": _unit(lr), "y": _unit(hr)}

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, Tensor]]:
        """The items of one batch (what a DataLoader collates); photos of different sizes are refused with
        what to do instead of a bare stacking error."""
        sizes = {tuple(self.pairs[i][0].shape) for i in indices}
        if len(sizes) > 1:
            raise ForwardkitError(
                f"the sr_patches test split holds whole photos of different sizes ({sorted(sizes)}): they cannot "
                "share a batch; evaluate it with batch size 1 (trainer.eval_batch_size: 1)"
            )
        return [self[i] for i in indices]

    def __repr__(self) -> str:
        return f"FullImageSplit({', '.join(self.names)})"


class SRPatches(Dataset):
    """``sr_patches``: bicubic LR/HR pairs of bundled photos; training patches, whole held-out photos for test."""

    Config = SRPatchesConfig
    config: SRPatchesConfig
    expected_failures = {
        "check_dataset_items": "the test split holds the held-out photos whole (LR e.g. 150x225 and 213x320 at "
        "scale 2), as SR benchmarks score them, so its items cannot have the training patches' shape that "
        "metadata.input_shape states; tests/test_super_resolution.py checks every split's items against its own "
        "shapes instead",
    }

    def __init__(self, config: SRPatchesConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self._splits: dict[str, TorchDataset] | None = None
        self._metadata: DatasetMetadata | None = None

    def _rng(self, split: str) -> np.random.Generator:
        names = self.config.train_images if split == "train" else self.config.test_images
        return np.random.default_rng([self.config.seed, _SPLIT_ID[split], zlib.crc32(",".join(names).encode())])

    def _build(self) -> dict[str, TorchDataset]:
        if self._splits is not None:
            return self._splits
        c = self.config
        s, p = c.scale, c.lr_patch
        train = [lr_hr_pair(n, s) for n in c.train_images]
        test = [lr_hr_pair(n, s) for n in c.test_images]
        train_pos = patch_positions([lr.shape for lr, _ in train], c.patches_per_epoch, p, self._rng("train"),
                                    augment=c.augment)
        val_pos = patch_positions([lr.shape for lr, _ in test], c.val_patches, p, self._rng("val"), augment=False)
        self._splits = {
            "train": PatchSplit(train, train_pos, patch=p, scale=s),
            "val": PatchSplit(test, val_pos, patch=p, scale=s),
            "test": FullImageSplit(test, c.test_images),
        }
        extra = {
            "scale": s,
            "lr_patch": p,
            "hr_patch": s * p,
            "train_images": list(c.train_images),
            "test_images": list(c.test_images),
            "test_sizes": {n: {"lr": list(lr.shape), "hr": list(hr.shape)} for n, (lr, hr) in zip(c.test_images, test,
                                                                                                  strict=True)},
            "degradation": "HR modcropped to a multiple of the scale, LR = Pillow bicubic (antialiased) downscale "
                           "on uint8, rounded to uint8",
            "test_split": "whole held-out photos, sizes differ: evaluate with batch size 1",
            "val_split": "aligned patches of the held-out photos (no augmentation)",
            "licenses": {n: SR_SOURCES[n] for n in (*c.train_images, *c.test_images)},
        }
        self._metadata = DatasetMetadata(
            task="image_restoration", input_shape=(p, p, 3), target_shape=(s * p, s * p, 3),
            sizes={name: len(split) for name, split in self._splits.items()},  # type: ignore[arg-type]
            extra=extra,
        )
        return self._splits

    @property
    def metadata(self) -> DatasetMetadata:
        self._build()
        assert self._metadata is not None
        return self._metadata

    def split(self, name: str) -> TorchDataset:
        if name not in self.splits:
            raise UnknownSplitError(name, type(self).__name__, self.splits)
        return self._build()[name]
