"""synthetic_membranes (roles, determinism, targets) and the EM metrics (card test: ARAND / VOI of a perfect
prediction are 0)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from forwardkit_tokenunify.membranes import SyntheticMembranes, render_membranes
from forwardkit_tokenunify.metrics import EMBoundary, EMSegMetrics, arand_voi, boundary_dice, segmentation_scores

SMALL = {"size": 16, "cells_per_image": 4.0, "n_unlabelled": 5, "n_labelled": 3, "n_test": 4}


def test_roles_hold_unlabelled_or_labelled_splits():
    pre = SyntheticMembranes(role="pretrain", **SMALL)
    assert pre.splits == ("train",) and pre.metadata.sizes == {"train": 5}
    assert (pre.split("train").y == -1).all() and "labels" not in pre.split("train")[0]
    fine = SyntheticMembranes(**SMALL)
    assert fine.splits == ("train", "test") and fine.metadata.task == "em_boundary"
    item = fine.split("test")[0]
    assert item["x"].shape == (16, 16, 1) and item["y"].shape == (16, 16) and item["labels"].shape == (16, 16)
    assert 0.0 <= float(item["x"].min()) and float(item["x"].max()) <= 1.0
    assert set(item["y"].unique().tolist()) == {0, 1}
    assert (item["labels"][item["y"] == 1] == 0).all() and (item["labels"][item["y"] == 0] > 0).all()
    # the pre-training images are not the fine-tuning ones; an image does not depend on the other splits' sizes
    assert not torch.equal(pre.split("train").x[0], fine.split("train").x[0])
    bigger = SyntheticMembranes(**{**SMALL, "n_labelled": 6})
    assert torch.equal(bigger.split("test").x, fine.split("test").x)


def test_membranes_are_darker_than_the_interior():
    x, y, _ = render_membranes(np.random.default_rng(0), size=64)
    assert x[y == 1].mean() < x[y == 0].mean() - 0.1


def test_3d_stacks_have_in_plane_membranes():
    x, y, lab = render_membranes(np.random.default_rng(1), size=16, depth=4, cells_per_image=4)
    assert x.shape == y.shape == lab.shape == (4, 16, 16)


def test_perfect_prediction_has_zero_arand_and_voi():
    _, y, labels = render_membranes(np.random.default_rng(0), size=32)
    relabelled = np.where(labels > 0, labels * 7 + 100, 0)  # the same segmentation under other ids
    are, voi = arand_voi(labels, relabelled)
    assert are == 0.0 and voi == pytest.approx(0.0, abs=1e-12)
    # a perfect boundary prediction: the components of the predicted interior are the cells
    logits = torch.from_numpy(np.where(y > 0, 8.0, -8.0))[None, ..., None]
    scores = segmentation_scores(logits, torch.from_numpy(y)[None], torch.from_numpy(labels)[None])
    assert scores["dice"] == [1.0]
    assert scores["arand"][0] == pytest.approx(0.0, abs=1e-12) and scores["voi"][0] == pytest.approx(0.0, abs=1e-9)
    merged = np.where(labels > 0, 1, 0)  # every cell merged into one segment: both errors are positive
    are, voi = arand_voi(labels, merged)
    assert are > 0.3 and voi > 0.5


def test_dice_and_task_metrics_sum_per_image():
    assert boundary_dice(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0])) == pytest.approx(2 / 3)
    assert boundary_dice(np.zeros(3), np.zeros(3)) == 1.0
    task = EMBoundary()
    logits, batch = task.example(4, generator=torch.Generator().manual_seed(0))
    m = task.metrics(logits, batch)
    assert m["dice"][1] == 4 and m["arand"][1] == 4 and m["loss"][1] == 4 * 64
    with pytest.raises(ValueError, match="does not match"):
        task.loss(torch.zeros(4, 8, 7, 1), batch)


def test_analyzer_scores_a_model_on_labelled_batches():
    ds = SyntheticMembranes(**SMALL)
    batch = ds.split("test").tensors

    class Oracle(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.where(batch["y"][..., None] > 0, 8.0, -8.0)

    analysis = EMSegMetrics().analyze(Oracle(), [batch])
    assert analysis.numbers["dice"] == 1.0 and analysis.numbers["images"] == 4
    assert analysis.numbers["arand"] < 0.05
