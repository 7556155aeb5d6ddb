"""coarse_label_digits (the groupings, the fine-class subset, indices), look_cnn (shapes, norm_eval) and the
intra_class_modes numbers on features whose structure is known."""

from __future__ import annotations

import pytest
import torch
from forwardkit_look_pretraining.data import coarse_labels
from forwardkit_look_pretraining.modes import intra_class_modes, knn_accuracy, subclass_purity, within_between_ratio
from pydantic import ValidationError

import forwardkit
from forwardkit.errors import ConfigError


def test_the_groupings_map_digits_to_coarse_classes():
    d = torch.arange(10)
    assert coarse_labels(d, "parity").tolist() == [0, 1] * 5
    assert coarse_labels(d, "lt5").tolist() == [0] * 5 + [1] * 5
    assert coarse_labels(d, "pairs").tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_items_carry_both_labels_and_their_row_index():
    ds = forwardkit.create("dataset", "coarse_label_digits", source="sklearn_digits", grouping="parity")
    train = ds.split("train")
    item = train[5]
    assert set(item) == {"x", "y", "y_coarse", "y_fine", "idx"} and int(item["idx"]) == 5
    assert torch.equal(train.tensors["y"], train.tensors["y_fine"] % 2)
    assert ds.metadata.num_classes == 2 and ds.metadata.class_names == ["even", "odd"]
    fine = forwardkit.create("dataset", "coarse_label_digits", source="sklearn_digits", label="fine")
    assert fine.metadata.num_classes == 10 and torch.equal(fine.split("test").tensors["y"],
                                                           fine.split("test").tensors["y_fine"])


def test_train_per_class_keeps_that_many_per_digit_and_leaves_the_test_split_alone():
    full = forwardkit.create("dataset", "coarse_label_digits", source="sklearn_digits")
    few = forwardkit.create("dataset", "coarse_label_digits", source="sklearn_digits", train_per_class=7,
                            subset_seed=3)
    counts = torch.bincount(few.split("train").tensors["y_fine"], minlength=10)
    assert counts.tolist() == [7] * 10
    assert torch.equal(few.split("test").x, full.split("test").x)
    other = forwardkit.create("dataset", "coarse_label_digits", source="sklearn_digits", train_per_class=7,
                              subset_seed=4)
    assert not torch.equal(few.split("train").x, other.split("train").x)


def test_bad_configs_name_the_field():
    with pytest.raises((ConfigError, ValidationError), match="grouping"):
        forwardkit.create("dataset", "coarse_label_digits", grouping="thirds")
    with pytest.raises((ConfigError, ValidationError), match="bank_size"):
        forwardkit.create("learning_rule", "look_loss", k=20, bank_size=10)
    with pytest.raises((ConfigError, ValidationError), match="pool_blocks"):
        forwardkit.create("model", "look_cnn", widths=[8], pool_blocks=2)


def test_look_cnn_shapes_and_norm_eval():
    model = forwardkit.create("model", "look_cnn", num_classes=3)
    x = torch.rand(2, 28, 28, 1)
    assert model(x).shape == (2, 3) and model.features(x).shape == (2, 128)
    assert sum(p.numel() for p in model.parameters()) == (9 * 32 + 64 + 9 * 32 * 64 + 128 + 9 * 64 * 128 + 256
                                                          + 9 * 128 * 128 + 256 + 128 * 3 + 3)
    frozen = forwardkit.create("model", "look_cnn", norm_eval=True)
    frozen.train()
    assert frozen.training and all(not m.training for m in frozen.modules() if isinstance(m, torch.nn.BatchNorm2d))
    with pytest.raises(ValueError, match="channels-last"):
        model(torch.rand(2, 1, 28, 28))


def _structured(collapsed: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two coarse classes of two fine classes each, 30 samples per fine class; collapsed: both fine classes of a
    coarse class share one cluster; else each fine class has its own."""
    g = torch.Generator().manual_seed(0)
    fine = torch.arange(4).repeat_interleave(30)
    coarse = fine // 2
    centres = torch.eye(4) * 5
    key = coarse * 2 if collapsed else fine
    return centres[key] + 0.3 * torch.randn(120, 4, generator=g), fine, coarse


def test_intra_class_modes_tells_kept_sub_classes_from_collapsed_ones():
    kept, fine, coarse = _structured(False)
    collapsed, _, _ = _structured(True)
    p_kept, _ = subclass_purity(kept, fine, coarse, k=5)
    p_coll, per = subclass_purity(collapsed, fine, coarse, k=5)
    assert p_kept == pytest.approx(1.0) and p_coll < 0.75 and set(per) == {0, 1}
    assert knn_accuracy(kept, fine, k=5) == pytest.approx(1.0) and knn_accuracy(collapsed, fine, k=5) < 0.75
    assert within_between_ratio(collapsed, coarse) < within_between_ratio(kept, coarse)
    numbers, table = intra_class_modes(kept, fine, coarse, k=5, purity_k=5, probe_per_class=10)
    assert numbers["probe_accuracy"] == pytest.approx(1.0) and numbers["subclass_spread"] > 2.0
    assert [row["chance"] for row in table] == [0.5, 0.5]
    numbers, _ = intra_class_modes(kept, fine, coarse, probe_per_class=30)  # nothing left to score: no probe
    assert "probe_accuracy" not in numbers
