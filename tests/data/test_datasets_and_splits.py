"""forwardkit.data: in-memory datasets, splits, SplitConfig (torch-free)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from forwardkit.data import (
    InMemoryDataset,
    SplitConfig,
    TensorSplit,
    UnknownSplitError,
    random_split,
    split_sizes,
    stratified_split,
    take_splits,
)
from forwardkit.errors import ConfigError, ForwardkitError


class Squares(InMemoryDataset):
    Config = SplitConfig

    def build(self):
        x = torch.arange(40, dtype=torch.float32).reshape(20, 2)
        y = torch.arange(20) % 2
        index = stratified_split(y, self.config.val_fraction, self.config.test_fraction, self.config.seed)
        return take_splits(x, y, index, weight=torch.ones(20)), {"task": "classification", "num_classes": 2}


def test_in_memory_dataset_reads_its_metadata_from_the_tensors():
    ds = Squares(val_fraction=0.2, test_fraction=0.2)
    meta = ds.metadata
    assert meta.input_shape == (2,) and meta.target_shape == () and meta.num_classes == 2
    assert meta.sizes == {"train": 12, "val": 4, "test": 4}
    item = ds.split("val")[0]
    assert set(item) == {"x", "y", "weight"}
    with pytest.raises(UnknownSplitError, match="no split 'dev'"):
        ds.split("dev")

    class Broken(Squares):
        def build(self):
            splits, fields = super().build()
            return {"train": splits["train"]}, fields

    with pytest.raises(ForwardkitError, match="returned no split"):
        Broken().metadata


def test_tensor_split_lengths_must_agree():
    with pytest.raises(ValueError, match="same length"):
        TensorSplit(torch.zeros(3, 2), torch.zeros(4))
    assert "TensorSplit(n=3" in repr(TensorSplit(torch.zeros(3, 2), torch.zeros(3)))


def test_splits_are_disjoint_cover_everything_and_are_seeded():
    assert split_sizes(101, 0.1, 0.2) == (71, 10, 20)
    a, b = random_split(50, 0.2, 0.2, seed=1), random_split(50, 0.2, 0.2, seed=1)
    assert all(np.array_equal(a[s], b[s]) for s in a)
    assert sorted(np.concatenate(list(a.values())).tolist()) == list(range(50))
    labels = np.repeat([0, 1, 2], [30, 60, 90])
    parts = stratified_split(labels, 0.1, 0.2, seed=0)
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(180))
    for split, share in (("val", 0.1), ("test", 0.2)):
        counts = np.bincount(labels[parts[split]], minlength=3)
        assert counts.tolist() == [round(30 * share), round(60 * share), round(90 * share)]


def test_split_config_validates_and_imports_without_torch():
    with pytest.raises(ConfigError, match="below 1"):
        Squares(val_fraction=0.5, test_fraction=0.5)  # components validate their config into a ConfigError
    code = "import sys; from forwardkit.data import SplitConfig; SplitConfig(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
