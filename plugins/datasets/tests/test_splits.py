"""Splits are deterministic under the seed, disjoint, and (for classification) stratified."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from forwardkit_datasets.digits import load_digits_arrays, load_mnist5k_arrays
from forwardkit_datasets.images import crop_positions, crop_rng, load_image, split_region, texture_crops

import forwardkit
from forwardkit.data import random_split, stratified_split

SPLITS = ("train", "val", "test")
SEEDED = [
    ("blobs", {"n_samples": 400}),
    ("sequence", {"n_samples": 400}),
    ("sequence", {"task": "marked_sum", "n_samples": 400}),
    ("digits", {}),
    ("mnist5k", {}),
    ("textures", {"train_per_class": 20, "val_per_class": 5, "test_per_class": 5}),
]


def _tensors(ds) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {s: (ds.split(s).x, ds.split(s).y) for s in SPLITS}


@pytest.mark.parametrize(("name", "config"), SEEDED, ids=[n for n, _ in SEEDED])
def test_same_seed_same_items_other_seed_other_split(make, name: str, config: dict) -> None:
    first = _tensors(forwardkit.create("dataset", name, seed=3, **config))
    again = _tensors(forwardkit.create("dataset", name, seed=3, **config))
    other = _tensors(forwardkit.create("dataset", name, seed=4, **config))
    for s in SPLITS:
        assert torch.equal(first[s][0], again[s][0]) and torch.equal(first[s][1], again[s][1])
    assert not torch.equal(first["test"][0], other["test"][0])


def test_index_splits_are_disjoint_and_cover() -> None:
    labels = np.repeat(np.arange(7), [50, 40, 33, 10, 3, 61, 20])
    for index in (stratified_split(labels, 0.2, 0.1, seed=0), random_split(len(labels), 0.2, 0.1, seed=0)):
        joined = np.concatenate([index[s] for s in SPLITS])
        assert len(joined) == len(labels) == len(np.unique(joined))
    strat = stratified_split(labels, 0.2, 0.1, seed=0)
    for cls, count in enumerate(np.bincount(labels)):
        assert (labels[strat["val"]] == cls).sum() == round(count * 0.2)
        assert (labels[strat["test"]] == cls).sum() == round(count * 0.1)


def _rows(x: torch.Tensor) -> set[bytes]:
    flat = x.reshape(len(x), -1).numpy()
    return {row.tobytes() for row in flat}


@pytest.mark.parametrize(("name", "loader"), [("digits", load_digits_arrays), ("mnist5k", load_mnist5k_arrays)])
def test_real_image_splits_are_disjoint(make, name: str, loader) -> None:
    ds = make(name, normalize="none")
    images, _ = loader()
    flat = images.reshape(len(images), -1)
    _, counts = np.unique(flat, axis=0, return_counts=True)
    duplicates = int((counts - 1).sum())  # identical pictures the source itself holds twice
    rows = {s: _rows(ds.split(s).x) for s in SPLITS}
    assert sum(len(r) for r in rows.values()) >= len(images) - duplicates
    overlap = len(rows["train"] & rows["val"]) + len(rows["train"] & rows["test"]) + len(rows["val"] & rows["test"])
    assert overlap <= duplicates
    # the split holds exactly the source pictures
    every = torch.cat([ds.split(s).x for s in SPLITS]).reshape(len(images), -1).numpy().astype(np.uint8)
    assert np.array_equal(np.unique(every, axis=0), np.unique(flat, axis=0))


@pytest.mark.parametrize("name", ["blobs", "sequence", "digits", "mnist5k", "textures"])
def test_classes_are_balanced_across_splits(make, name: str) -> None:
    ds = make(name)
    k = ds.metadata.num_classes
    labels = torch.cat([ds.split(s).y for s in SPLITS]).numpy()
    overall = np.bincount(labels, minlength=k) / len(labels)
    for s in SPLITS:
        y = ds.split(s).y.numpy()
        share = np.bincount(y, minlength=k) / len(y)
        # per-class rounding moves at most one sample per class
        assert np.abs(share - overall).max() <= 1.0 / len(y) + 1e-9 + 0.01, (s, share, overall)


def test_texture_crops_come_from_disjoint_bands() -> None:
    regions = (0.6, 0.2, 0.2)
    crop = 32
    for name in ("brick", "coffee", "chelsea", "rocket"):
        shape = load_image(name).shape
        spans = {}
        for s in SPLITS:
            axis, start, stop = split_region(shape, s, regions)
            rows, cols = crop_positions(shape, 200, crop, rng=crop_rng(0, s, name), region=(axis, start, stop))
            corner = rows if axis == 0 else cols
            assert corner.min() >= start and corner.max() + crop <= stop
            spans[s] = (start, stop)
        assert spans["train"][1] <= spans["val"][0] and spans["val"][1] <= spans["test"][0]


def test_texture_crops_match_the_dataset(make) -> None:
    ds = make("textures")
    x, y = texture_crops(ds.config.images, ds.config.test_per_class, 32, seed=0, split="test")
    got = ds.split("test")
    order = np.lexsort((got.x.reshape(len(got), -1).sum(1).numpy(), got.y.numpy()))
    mine = np.lexsort((x.reshape(len(x), -1).sum(1), y))
    np.testing.assert_array_equal(got.y.numpy()[order], y[mine])
    np.testing.assert_allclose(got.x.numpy()[order], x[mine])


def test_texture_crops_are_stable_when_sources_are_added() -> None:
    a, _ = texture_crops(["brick", "grass"], 5, 16, seed=1, split="val")
    b, _ = texture_crops(["coffee", "brick", "grass"], 5, 16, seed=1, split="val")
    np.testing.assert_array_equal(a, b[5:])
