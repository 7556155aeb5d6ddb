"""The builtin synthetic datasets: ``blobs`` and ``sequence``."""

from __future__ import annotations

import time

import pytest
import torch
from torch.utils.data import default_collate

import forwardkit
from forwardkit.builtin.data import BlobsDataset, SequenceDataset, make_sequence_task
from forwardkit.data import TensorSplit, random_split, stratified_split
from forwardkit.errors import ConfigError, ForwardkitError

SPLITS = ("train", "val", "test")
CASES = [
    ("blobs", {}),
    ("blobs", {"n_features": 1, "num_classes": 3, "n_samples": 300}),
    ("blobs", {"image_size": 8, "image_channels": 3, "n_samples": 400}),
    ("blobs", {"num_classes": 7, "n_samples": 701, "clusters_per_class": 2, "val_fraction": 0.0}),
    ("sequence", {}),
    ("sequence", {"task": "marked_sum", "length": 10, "channels": 2, "n_samples": 300, "noise": 0.1}),
    ("sequence", {"channels": 2, "length": 9, "n_samples": 101}),
]


@pytest.mark.parametrize(("name", "config"), CASES)
def test_metadata_matches_items(name: str, config: dict) -> None:
    ds = forwardkit.create("dataset", name, **config)
    meta = ds.metadata
    assert sum(meta.sizes.values()) == ds.config.n_samples
    for split in SPLITS:
        data = ds.split(split)
        assert isinstance(data, TensorSplit) and len(data) == meta.sizes[split]
        if len(data) == 0:
            continue
        batch = default_collate([data[i] for i in range(len(data))])
        assert batch["x"].dtype == torch.float32
        assert tuple(batch["x"].shape) == (len(data), *meta.input_shape)
        if meta.task == "classification":
            assert batch["y"].dtype == torch.int64 and tuple(batch["y"].shape) == (len(data),)
            assert 0 <= int(batch["y"].min()) and int(batch["y"].max()) < meta.num_classes
            assert len(meta.class_names) == meta.num_classes
        else:
            assert meta.task == "regression" and meta.target_shape == (1,)
            assert batch["y"].dtype == torch.float32 and tuple(batch["y"].shape) == (len(data), 1)


def test_shapes_follow_the_config() -> None:
    assert BlobsDataset(n_features=5).metadata.input_shape == (5,)
    image = BlobsDataset(image_size=6, image_channels=2)
    assert image.metadata.input_shape == (6, 6, 2) and image.config.n_features == 72
    assert SequenceDataset(length=12, channels=3).metadata.input_shape == (12, 3)


@pytest.mark.parametrize(("name", "config"), CASES)
def test_deterministic_under_seed_and_disjoint(name: str, config: dict) -> None:
    a = forwardkit.create("dataset", name, seed=5, **config)
    b = forwardkit.create("dataset", name, seed=5, **config)
    c = forwardkit.create("dataset", name, seed=6, **config)
    for s in SPLITS:
        assert torch.equal(a.split(s).x, b.split(s).x) and torch.equal(a.split(s).y, b.split(s).y)
    assert not torch.equal(a.split("train").x, c.split("train").x)
    rows = {s: {r.numpy().tobytes() for r in a.split(s).x.flatten(1)} for s in SPLITS}
    if name == "blobs" or config.get("task") == "marked_sum":  # continuous inputs: every sample is unique
        assert not (rows["train"] & rows["val"]) and not (rows["train"] & rows["test"])
        assert not (rows["val"] & rows["test"])


def test_index_splits() -> None:
    labels = torch.tensor([0] * 30 + [1] * 10 + [2] * 5)
    index = stratified_split(labels, 0.2, 0.2, seed=0)
    joined = torch.as_tensor(sorted(int(i) for s in SPLITS for i in index[s]))
    assert torch.equal(joined, torch.arange(len(labels)))
    assert [int((labels[index["val"]] == k).sum()) for k in range(3)] == [6, 2, 1]
    r = random_split(10, 0.2, 0.3, seed=1)
    assert [len(r[s]) for s in SPLITS] == [5, 2, 3]
    assert sorted(int(i) for s in SPLITS for i in r[s]) == list(range(10))


def test_blobs_classes_are_balanced_and_stratified() -> None:
    ds = BlobsDataset(num_classes=4, n_samples=1000)
    for s in SPLITS:
        counts = torch.bincount(ds.split(s).y, minlength=4)
        assert int(counts.max() - counts.min()) <= 1


def _nearest_centroid_accuracy(ds) -> float:
    train, test = ds.split("train"), ds.split("test")
    xtr, xte = train.x.reshape(len(train), -1), test.x.reshape(len(test), -1)
    centroids = torch.stack([xtr[train.y == k].mean(0) for k in range(ds.metadata.num_classes)])
    return float((torch.cdist(xte, centroids).argmin(1) == test.y).float().mean())


@pytest.mark.parametrize("config", [{}, {"image_size": 8}, {"image_size": 6, "image_channels": 3, "num_classes": 6}])
def test_blobs_are_learnable(config: dict) -> None:
    ds = BlobsDataset(**config)
    assert _nearest_centroid_accuracy(ds) > 0.85
    chance = BlobsDataset(separation=0.0, n_samples=2000, **config)
    assert _nearest_centroid_accuracy(chance) < 1.0 / chance.config.num_classes + 0.1


def test_blob_images_are_spatially_smooth() -> None:
    ds = BlobsDataset(image_size=16, image_channels=1, num_classes=3, n_samples=3000, noise=0.1)
    train = ds.split("train")
    for k in range(3):
        mean = train.x[train.y == k].mean(0)[..., 0]
        left, right = mean[:, :-1].flatten(), mean[:, 1:].flatten()
        assert float(torch.corrcoef(torch.stack([left, right]))[0, 1]) > 0.8


def test_count_compare_needs_every_position() -> None:
    x, y = make_sequence_task("count_compare", 3000, 24, 4, seed=0)
    n_a, n_b = x[..., 0].sum(1), x[..., 1].sum(1)
    assert torch.equal((n_a > n_b).long(), y) and not (n_a == n_b).any()
    assert torch.equal(x.sum(-1), torch.ones(3000, 24))  # one symbol per position
    assert abs(float(y.float().mean()) - 0.5) < 0.01
    assert float(((n_a - n_b).abs() == 1).float().mean()) > 0.1  # often decided by a single symbol
    # the symbol at any one position predicts the label barely above chance (best lookup table)
    symbol = x.argmax(-1)
    for i in range(24):
        correct = 0
        for sym in range(4):
            labels = y[symbol[:, i] == sym]
            correct += max(int(labels.sum()), len(labels) - int(labels.sum()))
        assert correct / len(y) < 0.7


def test_marked_sum_depends_on_two_marked_positions() -> None:
    x, y = make_sequence_task("marked_sum", 2000, 16, 3, seed=1)
    marks = x[..., 1]
    assert torch.equal(marks.sum(1), torch.full((2000,), 2.0))
    torch.testing.assert_close((x[..., 0] * marks).sum(1, keepdim=True), y)
    corr = [abs(float(torch.corrcoef(torch.stack([x[:, i, 0], y[:, 0]]))[0, 1])) for i in range(16)]
    assert max(corr) < 0.35


def test_generation_is_fast() -> None:
    for cls in (BlobsDataset, SequenceDataset):
        cls().metadata  # warm up torch kernels
        start = time.perf_counter()
        cls(seed=9).metadata
        assert time.perf_counter() - start < 1.0  # ~0.01 s here; generous for slow CI machines


def test_errors_are_clear() -> None:
    with pytest.raises(ForwardkitError, match="no split 'dev'"):
        BlobsDataset().split("dev")
    with pytest.raises(ConfigError, match="contradicts image_size"):
        BlobsDataset(image_size=4, n_features=10)
    with pytest.raises(ConfigError, match="val_fraction \\+ test_fraction"):
        SequenceDataset(val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ConfigError, match="task"):
        SequenceDataset(task="parity")


def test_registered_with_configs() -> None:
    registry = forwardkit.get_registry()
    for name in ("blobs", "sequence"):
        info = registry.get("dataset", name)
        assert info.load_config() is info.load().Config
