"""The three datasets and the tagging task (card tests: the adding-problem generator)."""

from __future__ import annotations

import torch
from forwardkit_rnn_review.adding import TRIVIAL_MSE, make_adding_problem
from forwardkit_rnn_review.tagging import causal_accuracy_bound, make_two_sided_tagging

import forwardkit


def test_adding_problem_has_two_markers_one_per_half_and_the_masked_sum_as_target():
    x, y = make_adding_problem(500, 50, generator=torch.Generator().manual_seed(0))
    assert x.shape == (500, 50, 2) and y.shape == (500,)
    marker = x[..., 1]
    assert torch.equal(marker.sum(dim=1), torch.full((500,), 2.0))
    assert torch.equal(marker[:, :25].sum(dim=1), torch.ones(500))
    assert torch.equal(marker[:, 25:].sum(dim=1), torch.ones(500))
    assert set(marker.unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(y, (x[..., 0] * marker).sum(dim=1))
    assert 0.0 <= float(x[..., 0].min()) and float(x[..., 0].max()) < 1.0


def test_adding_problem_trivial_mse_is_one_sixth():
    _, y = make_adding_problem(20000, 10, generator=torch.Generator().manual_seed(1))
    assert abs(float(((y - 1.0) ** 2).mean()) - TRIVIAL_MSE) < 0.01


def test_adding_dataset_splits_are_seeded_and_separate():
    data = forwardkit.create("dataset", "adding_problem", length=20, num_train=30, num_val=10, num_test=10, seed=3)
    meta = data.metadata
    assert meta.task == "regression" and meta.input_shape == (20, 2) and meta.sizes == {"train": 30, "val": 10,
                                                                                         "test": 10}
    again = forwardkit.create("dataset", "adding_problem", length=20, num_train=30, num_val=10, num_test=10, seed=3)
    assert torch.equal(data.split("test").x, again.split("test").x)
    assert not torch.equal(data.split("train").x[:10], data.split("test").x)


def test_two_sided_tagging_labels_are_the_xor_of_the_bits_k_back_and_k_ahead():
    x, y = make_two_sided_tagging(50, 12, 3, generator=torch.Generator().manual_seed(0))
    bits = x[..., 0].long()
    assert x.shape == (50, 12, 1) and y.shape == (50, 12)
    for t in range(12):
        back = bits[:, t - 3] if t >= 3 else torch.zeros(50, dtype=torch.long)
        ahead = bits[:, t + 3] if t + 3 < 12 else torch.zeros(50, dtype=torch.long)
        assert torch.equal(y[:, t], back ^ ahead), t
    assert causal_accuracy_bound(40, 3) == (37 * 0.5 + 3) / 40


def test_two_sided_tagging_dataset_metadata():
    meta = forwardkit.create("dataset", "two_sided_tagging", num_train=8, num_val=4, num_test=4).metadata
    assert meta.task == "sequence_tagging" and meta.num_classes == 2
    assert meta.input_shape == (40, 1) and meta.target_shape == (40,)


def test_sequential_digits_reads_each_image_row_by_row():
    seq = forwardkit.create("dataset", "sequential_digits")
    img = forwardkit.create("dataset", "digits")
    assert seq.metadata.input_shape == (8, 8) and seq.metadata.num_classes == 10
    assert seq.metadata.sizes == img.metadata.sizes
    torch.testing.assert_close(seq.split("train").x, img.split("train").x[..., 0])
    assert torch.equal(seq.split("train").y, img.split("train").y)


def test_sequence_tagging_task_counts_every_position():
    task = forwardkit.create("task", "sequence_tagging")
    logits = torch.tensor([[[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]]])
    metrics = task.metrics(logits, {"y": torch.tensor([[0, 1, 1]])})
    assert metrics["accuracy"] == (2.0, 3)
    loss = task.loss(logits, {"y": torch.tensor([[0, 1, 1]])})
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(logits[0], torch.tensor([0, 1, 1])))
