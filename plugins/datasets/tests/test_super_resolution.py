"""sr_patches: offline photos, bicubic LR/HR pairs, aligned patches, split by photo, whole test photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from forwardkit_datasets.config import SR_SOURCES, SR_TEST_IMAGES, SR_TRAIN_IMAGES
from forwardkit_datasets.super_resolution import (
    bicubic_downscale,
    dihedral,
    load_photo,
    lr_hr_pair,
    modcrop,
)
from torch.utils.data import DataLoader, default_collate

import forwardkit
from forwardkit.errors import ConfigError, ForwardkitError

SMALL = {"patches_per_epoch": 64, "val_patches": 8}


def test_every_photo_loads_offline() -> None:
    for name in SR_SOURCES:
        photo = load_photo(name)
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[-1] == 3, name
        assert min(photo.shape[:2]) >= 300 and not photo.flags.writeable
    gray = load_photo("camera")
    assert np.array_equal(gray[..., 0], gray[..., 2])  # the grey picture, repeated over the channels
    assert set(SR_TRAIN_IMAGES).isdisjoint(SR_TEST_IMAGES) and set(SR_TRAIN_IMAGES) | set(SR_TEST_IMAGES) == set(
        SR_SOURCES)


def test_sklearn_photos_equal_the_package_loader() -> None:
    from sklearn.datasets import load_sample_image

    for name in ("china", "flower"):
        np.testing.assert_array_equal(load_photo(name), load_sample_image(f"{name}.jpg"))


def test_unknown_photos_are_refused() -> None:
    with pytest.raises(ForwardkitError, match="not a bundled photo"):
        load_photo("skin")  # skimage would download this one
    with pytest.raises(ConfigError, match="train_images"):
        forwardkit.create("dataset", "sr_patches", train_images=["coffee", "lena"])
    with pytest.raises(ConfigError, match="both train_images and test_images"):
        forwardkit.create("dataset", "sr_patches", train_images=["coffee", "chelsea"])


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_lr_is_the_pillow_bicubic_of_the_modcropped_hr(scale: int) -> None:
    from PIL import Image

    lr, hr = lr_hr_pair("chelsea", scale)
    photo = load_photo("chelsea")
    assert hr.shape == (300 - 300 % scale, 451 - 451 % scale, 3)
    np.testing.assert_array_equal(hr, photo[: hr.shape[0], : hr.shape[1]])
    assert lr.shape == (hr.shape[0] // scale, hr.shape[1] // scale, 3) and lr.dtype == np.uint8
    expect = Image.fromarray(hr).resize((hr.shape[1] // scale, hr.shape[0] // scale), Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(lr, np.asarray(expect))
    # antialiased: far smoother than plain decimation (the HR pixel at each block corner)
    decimated = hr[::scale, ::scale].astype(float)
    assert np.abs(np.diff(lr.astype(float), axis=1)).mean() < np.abs(np.diff(decimated, axis=1)).mean()
    with pytest.raises(ValueError, match="modcrop"):
        bicubic_downscale(photo[:301], scale)


def test_modcrop() -> None:
    image = np.zeros((10, 13, 3))
    assert modcrop(image, 3).shape == (9, 12, 3) and modcrop(image, 2).shape == (10, 12, 3)


def _unit(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float32) / np.float32(255)


def _interior_error(x: torch.Tensor, y: torch.Tensor, scale: int) -> float:
    """Mean |bicubic(y) - x| away from the patch border (where the patch lacks the photo's neighbours)."""
    hr = np.round(y.numpy() * 255).astype(np.uint8)
    down = bicubic_downscale(hr, scale).astype(float) / 255
    return float(np.abs(down - x.numpy())[3:-3, 3:-3].mean())


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_training_patches_are_aligned_crops(scale: int) -> None:
    ds = forwardkit.create("dataset", "sr_patches", scale=scale, lr_patch=16, **SMALL)
    train = ds.split("train")
    pairs = [lr_hr_pair(n, scale) for n in SR_TRAIN_IMAGES]
    seen, aligned, shifted = set(), 0.0, 0.0
    for i in range(len(train)):
        image, row, col, transform = (int(v) for v in train.positions[i])
        seen.add(transform)
        item = train[i]
        assert item["x"].shape == (16, 16, 3) and item["y"].shape == (16 * scale, 16 * scale, 3)
        lr, hr = pairs[image]
        np.testing.assert_array_equal(item["x"].numpy(), _unit(dihedral(lr[row:row + 16, col:col + 16], transform)))
        p, s = 16 * scale, scale
        np.testing.assert_array_equal(item["y"].numpy(),
                                      _unit(dihedral(hr[s * row:s * row + p, s * col:s * col + p], transform)))
        error = _interior_error(item["x"], item["y"], scale)
        assert error < 3 / 255  # the LR patch is the bicubic downscale of the HR patch
        aligned += error
        shifted += _interior_error(torch.roll(item["x"], 1, dims=1), item["y"], scale)
    assert len(seen) == 8  # every flip/rotation occurs
    assert shifted > 3 * aligned  # a one-pixel misalignment is far off: the check above means something


def test_dihedral_gives_eight_distinct_transforms() -> None:
    image = np.arange(2 * 3 * 1).reshape(2, 3, 1)
    outs = {dihedral(image, t).tobytes() + bytes(dihedral(image, t).shape) for t in range(8)}
    assert len(outs) == 8
    assert np.array_equal(dihedral(image, 0), image) and np.array_equal(dihedral(image, 4), image[:, ::-1])


def test_split_by_photo_and_metadata() -> None:
    ds = forwardkit.create("dataset", "sr_patches", **SMALL)
    meta = ds.metadata
    assert meta.task == "image_restoration" and meta.num_classes is None
    assert meta.input_shape == (24, 24, 3) and meta.target_shape == (48, 48, 3)
    assert meta.sizes == {"train": 64, "val": 8, "test": 2} and meta.extra["scale"] == 2
    train, val, test = (ds.split(s) for s in ("train", "val", "test"))
    assert train.pairs[0][0] is lr_hr_pair(SR_TRAIN_IMAGES[0], 2)[0]
    assert all(a is b for (a, _), (b, _) in zip(val.pairs, test.pairs, strict=True))  # val: the held-out photos
    assert {id(lr) for lr, _ in train.pairs}.isdisjoint({id(lr) for lr, _ in test.pairs})
    assert (val.positions[:, 3] == 0).all()  # no augmentation outside train
    for split in (train, val):
        for i in (0, len(split) - 1):
            item = split[i]
            assert tuple(item["x"].shape) == meta.input_shape and tuple(item["y"].shape) == meta.target_shape
            assert item["x"].dtype == torch.float32 and 0.0 <= float(item["x"].min()) <= float(item["x"].max()) <= 1.0
    assert test.names == list(SR_TEST_IMAGES)
    for i, name in enumerate(SR_TEST_IMAGES):
        lr, hr = lr_hr_pair(name, 2)
        item = test[i]
        assert tuple(item["x"].shape) == lr.shape and tuple(item["y"].shape) == hr.shape
        assert meta.extra["test_sizes"][name] == {"lr": list(lr.shape), "hr": list(hr.shape)}
    assert test[0]["x"].shape == (150, 225, 3) and test[1]["x"].shape == (213, 320, 3)


def test_patches_follow_the_seed() -> None:
    a = forwardkit.create("dataset", "sr_patches", seed=1, **SMALL)
    b = forwardkit.create("dataset", "sr_patches", seed=1, **SMALL)
    c = forwardkit.create("dataset", "sr_patches", seed=2, **SMALL)
    for split in ("train", "val"):
        assert torch.equal(a.split(split)[5]["x"], b.split(split)[5]["x"])
        assert not np.array_equal(a.split(split).positions, c.split(split).positions)
    assert torch.equal(a.split("test")[0]["y"], c.split("test")[0]["y"])  # the whole photos do not depend on it
    plain = forwardkit.create("dataset", "sr_patches", seed=1, augment=False, **SMALL)
    assert (plain.split("train").positions[:, 3] == 0).all()


def test_test_split_batches_one_photo_and_explains_larger_batches() -> None:
    from forwardkit.engine.data import iterate

    test = forwardkit.create("dataset", "sr_patches", **SMALL).split("test")
    batches = list(iterate(test, 1))
    assert [tuple(b["x"].shape) for b in batches] == [(1, 150, 225, 3), (1, 213, 320, 3)]
    with pytest.raises(ForwardkitError, match=r"eval_batch_size: 1"):
        next(iter(DataLoader(test, batch_size=2, collate_fn=default_collate)))
    train = forwardkit.create("dataset", "sr_patches", **SMALL).split("train")
    batch = next(iter(DataLoader(train, batch_size=16, collate_fn=default_collate)))
    assert tuple(batch["x"].shape) == (16, 24, 24, 3) and tuple(batch["y"].shape) == (16, 48, 48, 3)


def test_a_patch_larger_than_a_photo_is_a_clear_error() -> None:
    with pytest.raises(ForwardkitError, match="smaller lr_patch"):
        forwardkit.create("dataset", "sr_patches", scale=4, lr_patch=100, **SMALL).metadata
