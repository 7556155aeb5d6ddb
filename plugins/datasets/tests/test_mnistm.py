"""mnistm_digits: MNIST-M's blend |patch - digit| over scikit-image photos, disjoint digit sets, an unlabelled
target-train split, both domains in test, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from forwardkit_datasets.config import MnistmDigitsConfig
from forwardkit_datasets.digits import load_mnist5k_arrays
from forwardkit_datasets.mnistm import SETS, blend, blended_digits, digit_sets, load_photo, photo_patches

import forwardkit

SMALL = {"n_source_train": 60, "n_source_val": 20, "n_source_test": 20, "n_target_train": 50, "n_target_test": 40}


def _find_crop(image: np.ndarray, patch: np.ndarray) -> bool:
    """Whether ``patch`` (s, s, 3) is a crop of ``image`` (H, W, 3) at some position (exact)."""
    s = patch.shape[0]
    hits = np.argwhere(np.all(image[: image.shape[0] - s + 1, : image.shape[1] - s + 1] == patch[0, 0], axis=-1))
    return any(np.array_equal(image[r : r + s, c : c + s], patch) for r, c in hits)


def test_blend_is_the_absolute_difference_per_channel():
    alpha = np.array([[[[0.0], [1.0], [0.25]]]], np.float32)  # (1, 1, 3, 1)
    patch = np.array([[[[0.2, 0.5, 0.9], [0.2, 0.5, 0.9], [1.0, 0.0, 0.25]]]], np.float32)
    out = blend(alpha, patch)
    assert out.shape == (1, 1, 3, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], [[0.2, 0.5, 0.9], [0.8, 0.5, 0.1], [0.75, 0.25, 0.0]], atol=1e-7)


def test_target_images_are_patch_minus_digit_of_real_photo_crops(make):
    cfg = MnistmDigitsConfig(**SMALL)
    ds = make("mnistm_digits", **SMALL)
    images, _ = load_mnist5k_arrays()
    sets = digit_sets(cfg)
    x = ds.split("target_train").x.numpy()
    alpha = images[sets["target_train"]].astype(np.float32) / 255.0
    patches = photo_patches(list(cfg.train_photos), len(alpha), rng=np.random.default_rng([0, 53, 0]))
    np.testing.assert_array_equal(x, np.abs(patches - alpha))
    assert 0.0 <= x.min() and x.max() <= 1.0
    photos = [load_photo(n) for n in cfg.train_photos]
    for i in range(3):  # each patch is a real crop of one of the train photos
        assert any(_find_crop(p, patches[i]) for p in photos)
    test_photos = [load_photo(n) for n in cfg.test_photos]
    test_patch = photo_patches(list(cfg.test_photos), 1, rng=np.random.default_rng([0, 53, 1]))[0]
    assert any(_find_crop(p, test_patch) for p in test_photos)
    assert not any(_find_crop(p, test_patch) for p in photos)


def test_source_is_the_digit_over_rgb_and_digit_sets_are_disjoint(make):
    cfg = MnistmDigitsConfig(**SMALL)
    sets = digit_sets(cfg)
    assert [len(sets[s]) for s in SETS] == [60, 20, 20, 50, 40]
    union = np.concatenate([sets[s] for s in SETS])
    assert len(np.unique(union)) == len(union)  # no digit in two sets
    ds = make("mnistm_digits", **SMALL)
    images, labels = load_mnist5k_arrays()
    train = ds.split("train")
    expected = np.repeat(images[sets["source_train"]].astype(np.float32) / 255.0, 3, axis=-1)
    np.testing.assert_array_equal(train.x.numpy(), expected)
    assert train.y.tolist() == labels[sets["source_train"]].tolist()
    assert set(train.tensors["domain"].tolist()) == {0}


def test_target_train_is_unlabelled_and_test_holds_both_domains_labelled(make):
    ds = make("mnistm_digits", **SMALL)
    assert ds.unlabelled_splits == ("target_train",) and "target_train" in ds.splits
    tt = ds.split("target_train")
    assert set(tt.y.tolist()) == {-1} and set(tt.tensors["domain"].tolist()) == {1}
    test = ds.split("test")
    dom = test.tensors["domain"]
    assert int((dom == 0).sum()) == 20 and int((dom == 1).sum()) == 40
    assert dom[:20].unique().numel() == 2  # interleaved, not one block per domain
    assert test.y.min() >= 0 and test.y.max() <= 9
    md = ds.metadata
    assert md.task == "style_shift" and md.extra["styles"] == ["source", "target"]
    assert md.sizes == {"train": 60, "val": 20, "test": 60, "target_train": 50}
    pool = torch.cat([ds.split("train").x, tt.x])
    np.testing.assert_allclose(md.extra["pixel_mean"], pool.mean(dim=(0, 1, 2)).double().numpy(), rtol=1e-5)


def test_train_on_target_reveals_the_target_train_labels_only_in_train(make):
    ds = make("mnistm_digits", **SMALL, train_domain="target")
    src = make("mnistm_digits", **SMALL)
    _, labels = load_mnist5k_arrays()
    sets = digit_sets(MnistmDigitsConfig(**SMALL))
    train = ds.split("train")
    assert torch.equal(train.x, src.split("target_train").x)
    assert train.y.tolist() == labels[sets["target_train"]].tolist()
    assert set(ds.split("target_train").y.tolist()) == {-1}
    assert torch.equal(ds.split("test").x, src.split("test").x)
    assert ds.metadata.extra["pixel_mean"] == src.metadata.extra["pixel_mean"]


def test_disjoint_crops_keep_train_and_test_crops_in_their_bands():
    cfg = MnistmDigitsConfig(**SMALL, photo_split="disjoint_crops", test_band_start=0.5)
    alpha = np.zeros((4, 28, 28, 1), np.float32)  # a blank digit: the output is the patch itself
    names = list(dict.fromkeys([*cfg.train_photos, *cfg.test_photos]))
    for part, (lo, hi) in (("train", (0.0, 0.5)), ("test", (0.5, 1.0))):
        out = blended_digits(alpha, cfg, part)
        for patch in out:
            found = False
            for name in names:
                image = load_photo(name)
                axis = 0 if image.shape[0] >= image.shape[1] else 1
                start, stop = int(np.floor(lo * image.shape[axis])), int(np.floor(hi * image.shape[axis]))
                region = image[start:stop] if axis == 0 else image[:, start:stop]
                found = found or _find_crop(region, patch)
            assert found, part


def test_same_seed_same_data_and_another_seed_differs():
    a = forwardkit.create("dataset", "mnistm_digits", **SMALL)
    b = forwardkit.create("dataset", "mnistm_digits", **SMALL)
    c = forwardkit.create("dataset", "mnistm_digits", **SMALL, seed=1)
    for split in a.splits:
        assert torch.equal(a.split(split).x, b.split(split).x) and torch.equal(a.split(split).y, b.split(split).y)
    assert not torch.equal(a.split("target_train").x, c.split("target_train").x)


def test_config_refuses_too_many_digits_and_shared_photos():
    with pytest.raises(ValueError, match="5000"):
        MnistmDigitsConfig(n_source_train=4000, n_target_train=1000)
    with pytest.raises(ValueError, match="both train_photos and test_photos"):
        MnistmDigitsConfig(train_photos=["astronaut"], test_photos=["astronaut"])
    MnistmDigitsConfig(train_photos=["astronaut"], test_photos=["astronaut"], photo_split="disjoint_crops")


def test_scikit_learn_photos_blend_too():
    cfg = MnistmDigitsConfig(**SMALL, train_photos=["china"], test_photos=["flower"])
    assert load_photo("china").shape[-1] == 3 and load_photo("flower").dtype == np.float32
    for part, name in (("train", "china"), ("test", "flower")):
        patches = blended_digits(np.zeros((3, 28, 28, 1), np.float32), cfg, part)  # blank digits: the patches
        assert all(_find_crop(load_photo(name), p) for p in patches), name
    ds = forwardkit.create("dataset", "mnistm_digits", **SMALL, train_photos=["china"], test_photos=["flower"])
    assert set(ds.metadata.extra["licenses"]) == {"china", "flower"}
