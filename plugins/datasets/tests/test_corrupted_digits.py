"""corrupted_digits (clean train/val, CIFAR-C / MNIST-C-style corrupted test blocks) and its corruption functions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from forwardkit_datasets.config import CORRUPTIONS, CorruptedDigitsConfig
from forwardkit_datasets.corrupted_digits import LADDERS, corrupt, defocus_kernel, plasma_fractal
from forwardkit_datasets.digits import load_digits_arrays, load_mnist5k_arrays
from forwardkit_datasets.tasks import StyleShift

import forwardkit

SMALL = {"n_samples": 200, "corruptions": ["gaussian_noise", "contrast", "fog"], "severities": [1, 5]}


def _digits(n: int = 16) -> np.ndarray:
    images, _ = load_mnist5k_arrays()
    return images[:n].astype(np.float32) / 255.0


def _dataset(**fields):
    return forwardkit.create("dataset", "corrupted_digits", **{**SMALL, **fields})


def test_train_and_val_are_clean_digits_and_test_holds_one_block_per_corruption_and_severity():
    ds = _dataset()
    md = ds.metadata
    assert md.task == "style_shift" and md.num_classes == 10 and md.input_shape == (28, 28, 1)
    assert md.extra["styles"] == list(CORRUPTIONS) and CORRUPTIONS[0] == "clean"
    images, _ = load_mnist5k_arrays()
    pool = {bytes((img.astype(np.float32) / 255.0).tobytes()) for img in images}
    for split in ("train", "val"):
        s = ds.split(split)
        assert torch.all(s.tensors["domain"] == 0) and torch.all(s.tensors["severity"] == 0)
        assert all(bytes(x.numpy().tobytes()) in pool for x in s.x[:20])  # the digits themselves, /255
    test, block = ds.split("test"), md.extra["block_size"]
    pairs = [(c, s) for c in SMALL["corruptions"] for s in SMALL["severities"]]
    assert len(test) == block * len(pairs) and [(b["corruption"], b["severity"]) for b in md.extra["blocks"]] == pairs
    for i, (name, severity) in enumerate(pairs):
        rows = slice(i * block, (i + 1) * block)
        assert torch.all(test.tensors["domain"][rows] == CORRUPTIONS.index(name))
        assert torch.all(test.tensors["severity"][rows] == severity)
        assert torch.equal(test.y[rows], test.y[:block])  # every block: the same held-out digits, same order
    assert 0.0 <= float(test.x.min()) and float(test.x.max()) <= 1.0 and test.x.dtype == torch.float32


def test_blocks_are_deterministic_per_seed_and_independent_of_the_other_corruptions():
    a, b = _dataset(), _dataset()
    assert torch.equal(a.split("test").x, b.split("test").x) and torch.equal(a.split("train").x, b.split("train").x)
    fog_only = _dataset(corruptions=["fog"], severities=[5])
    block = fog_only.metadata.extra["block_size"]
    start = a.metadata.extra["blocks"][-1]["start"]  # fog at severity 5 is the last block of SMALL
    assert torch.equal(fog_only.split("test").x, a.split("test").x[start:start + block])
    other = _dataset(seed=1)
    assert not torch.equal(other.split("test").y, a.split("test").y)


def test_interleaved_is_the_blocked_stream_shuffled_and_test_clean_adds_a_clean_first_block():
    blocked, mixed = _dataset(), _dataset(order="interleaved")
    xb, xm = blocked.split("test").x, mixed.split("test").x
    assert xb.shape == xm.shape and not torch.equal(xb, xm)
    key = lambda x: sorted(bytes(row.numpy().tobytes()) for row in x)
    assert key(xb) == key(xm)  # the same images, in another order
    with_clean = _dataset(test_clean=True)
    block = with_clean.metadata.extra["block_size"]
    assert torch.all(with_clean.split("test").tensors["domain"][:block] == 0)
    assert torch.equal(with_clean.split("test").x[block:], xb)


@pytest.mark.parametrize("name", [c for c in CORRUPTIONS if c not in ("clean", "invert")])
def test_damage_grows_with_severity(name):
    x = _digits()
    damage = [float(np.abs(corrupt(x, name, s, rng=0) - x).mean()) for s in range(1, 6)]
    assert damage[4] > damage[0] > 0.0, damage
    assert all(b >= a - 0.01 for a, b in itertools.pairwise(damage)), damage


def test_the_formulas_of_the_pixelwise_corruptions():
    x = _digits()
    c = LADDERS["contrast"][4]
    m = x.mean(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(corrupt(x, "contrast", 5), m + c * (x - m), atol=1e-6)
    np.testing.assert_allclose(corrupt(x, "brightness", 3), np.clip(x + 0.3, 0, 1), atol=1e-6)
    np.testing.assert_array_equal(corrupt(x, "invert", 2), 1.0 - x)
    np.testing.assert_array_equal(corrupt(x, "clean", 3), x)
    zeros = np.zeros((64, 28, 28, 1), np.float32) + 0.5
    noise = corrupt(zeros, "gaussian_noise", 1, rng=0) - 0.5
    assert abs(float(noise.std()) - LADDERS["gaussian_noise"][0]) < 0.005 and abs(float(noise.mean())) < 0.005
    shot = corrupt(zeros, "shot_noise", 2, rng=0)
    assert abs(float(shot.mean()) - 0.5) < 0.01 and shot.std() > 0.05
    hit = corrupt(zeros, "impulse_noise", 5, rng=0) != 0.5
    assert abs(float(hit.mean()) - LADDERS["impulse_noise"][4]) < 0.01


def test_the_blur_kernels_and_the_fog_fractal():
    k = defocus_kernel(1.5, 0.1)
    assert k.shape == (7, 7) and abs(float(k.sum()) - 1.0) < 1e-6 and np.allclose(k, k.T) and k[3, 3] == k.max()
    flat = np.full((2, 28, 28, 1), 0.3, np.float32)
    for name in ("gaussian_blur", "defocus_blur", "pixelate"):
        np.testing.assert_allclose(corrupt(flat, name, 5), flat, atol=1e-6)  # blurs keep a flat image
    f = plasma_fractal(32, 2.0, np.random.default_rng(0))
    assert f.shape == (32, 32) and f.min() == 0.0 and f.max() == 1.0
    smooth = plasma_fractal(32, 3.0, np.random.default_rng(0))
    rough = np.abs(np.diff(f, axis=0)).mean()
    assert np.abs(np.diff(smooth, axis=0)).mean() < rough  # a larger decay: lower-frequency fog
    with pytest.raises(ValueError, match="power-of-2"):
        plasma_fractal(28, 2.0, np.random.default_rng(0))


def test_the_sklearn_source_gives_8x8_uci_digits_under_the_same_corruptions():
    ds = _dataset(source="sklearn_digits", n_samples=None, corruptions=["gaussian_noise", "fog", "texture"],
                  severities=[5])
    md = ds.metadata
    assert md.input_shape == (8, 8, 1) and "load_digits" in md.extra["source"]
    images, _ = load_digits_arrays()
    pool = {bytes((img.astype(np.float32) / 16.0).tobytes()) for img in images}
    train, test = ds.split("train"), ds.split("test")
    assert len(train) + len(ds.split("val")) + md.extra["block_size"] == 1797  # every UCI digit, once
    assert all(bytes(x.numpy().tobytes()) in pool for x in train.x[:20])    # clean, scaled by 1/16
    block = md.extra["block_size"]
    assert test.x.shape == (3 * block, 8, 8, 1) and 0.0 <= float(test.x.min()) and float(test.x.max()) <= 1.0
    clean = torch.from_numpy(np.stack([np.frombuffer(b, np.float32).reshape(8, 8, 1) for b in pool]))
    assert not any(torch.equal(test.x[0], c) for c in clean)                  # corrupted, not a clean digit
    with pytest.raises(ValueError, match="1797"):
        CorruptedDigitsConfig(source="sklearn_digits", n_samples=2000)


def test_bad_arguments_and_configs_are_refused():
    x = _digits(2)
    with pytest.raises(ValueError, match="unknown corruption"):
        corrupt(x, "snow", 1)
    with pytest.raises(ValueError, match="severity"):
        corrupt(x, "fog", 6)
    with pytest.raises(ValueError, match="more than once"):
        CorruptedDigitsConfig(corruptions=["fog", "fog"])
    with pytest.raises(ValueError, match=r"1\.\.5"):
        CorruptedDigitsConfig(severities=[0])


def test_the_style_shift_task_names_the_corruptions():
    ds = _dataset()
    task = StyleShift(**StyleShift.fields_from_metadata(ds.metadata))
    test = ds.split("test")
    batch = {"y": test.y, "domain": test.tensors["domain"]}
    logits = torch.nn.functional.one_hot(test.y, 10).float()
    metrics = task.metrics(logits, batch)
    assert {f"accuracy_{c}" for c in SMALL["corruptions"]} <= set(metrics)
    fog = 2 * ds.metadata.extra["block_size"]  # two severities of fog, every prediction right
    assert metrics["accuracy_fog"] == (float(fog), fog) and metrics["accuracy"][0] == len(test)
