"""The miniature zoo (dataset of filters), the per-seed zoo study (program arm) and the reproduction spec."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from forwardkit_cnn_filter_db.config import ZooStudyConfig
from forwardkit_cnn_filter_db.study import main, seed_figures, spearman
from forwardkit_cnn_filter_db.zoo import train_zoo_model

import forwardkit
from forwardkit.reproduce.spec import load_spec


def test_zoo_items_are_filters_labelled_by_depth() -> None:
    ds = forwardkit.create("dataset", "mini_filter_zoo", datasets=["digits"], widths=[2], depth=3, epochs=1,
                           train_size=32, label_by="depth", scale_by_peak=True)
    md = ds.metadata
    total = sum(md.sizes.values())
    assert md.input_shape == (3, 3, 1) and md.num_classes == 3
    assert total == 2 * (2 * 1 + 4 * 2 + 8 * 4)  # trained + untrained copies
    x = torch.cat([ds.split(s).x for s in ("train", "val", "test")])
    assert float(x.abs().amax()) == 1.0
    assert len(md.extra["members"]) == 2


def test_training_moves_the_filters_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(7)
    before = torch.rand(1)
    torch.manual_seed(7)
    trained, initial, stats = train_zoo_model("digits", 2, 0, epochs=1, train_size=64, depth=2)
    assert torch.equal(torch.rand(1), before)
    w0, w1 = initial.features[0].weight, trained.features[0].weight
    assert not torch.allclose(w0, w1) and 0.0 <= stats["train_accuracy"] <= 1.0


def test_study_cli_writes_one_seeds_tables_and_figures(tmp_path) -> None:
    assert main(["--smoke", "--seed", "1", "--out", str(tmp_path)]) == 0
    for name in ("figures.json", "quality.csv", "shift.csv", "zoo.png", "kl_matrix.png"):
        assert (tmp_path / name).exists(), name
    figs = json.loads((tmp_path / "figures.json").read_text())
    assert all(np.isfinite(figs[k]) and figs[k] >= 0 for k in ("cross_dataset_kl", "cross_depth_kl", "random_label_kl"))
    assert -1.0 <= figs["spearman_sparsity_width"] <= 1.0


def _row(width: int, sparsity: float, *, zoo: str = "main", train_size: int = 3500, layer: int = 0) -> dict:
    return {"zoo": zoo, "source": "mnist5k", "width": width, "seed": 0, "trained": True, "train_size": train_size,
            "layer": layer, "n_filters": 128, "sparsity": sparsity, "ve": 0.9, "ve_norm": 0.95}


def test_seed_figures_spearman_trends_and_the_no_trend_convention() -> None:
    cfg = ZooStudyConfig(datasets=["mnist5k", "textures"], widths=[8, 16])
    shifts = [{"width": w, "cross_dataset_kl": 0.1, "cross_depth_kl": 0.5, "random_label_kl": 0.2,
               "cross_dataset_kl_deep": 0.05, "cross_depth_kl_deep": 0.08, "untrained_cross_depth_kl": 0.3,
               "untrained_cross_depth_kl_deep": 0.04} for w in (8, 16)]
    rising = [_row(8, 0.0), _row(16, 0.2), _row(8, 0.3, zoo="small", train_size=500)]
    figs = seed_figures(cfg, rising, shifts, [0.9])
    assert figs["spearman_sparsity_width"] > 0 and figs["spearman_sparsity_inv_train_size"] > 0
    assert figs["cross_dataset_kl"] == 0.1 and figs["cross_depth_kl/width16"] == 0.5
    flat = seed_figures(cfg, [_row(8, 0.0), _row(16, 0.0), _row(8, 0.0, zoo="small", train_size=500)], shifts, [0.9])
    assert flat["spearman_sparsity_width"] == 0.0 == flat["spearman_sparsity_inv_train_size"]
    assert flat["sparse_layers_trained"] == 0.0
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_reproduction_spec_carries_the_cards_pass_bar() -> None:
    spec = load_spec("forwardkit_cnn_filter_db.reproduction:SPEC")
    assert "both ordering claims hold in >= 2 of 3 seeds" in spec.pass_bar
    assert "dataset shift >= depth shift, or no width trend" in spec.pass_bar
    kinds = [c.kind for c in spec.conditions]
    assert kinds == ["seed_count", "seed_count", "seed_count", "threshold", "threshold"]
    assert all(c.k == 2 for c in spec.conditions if c.kind == "seed_count") and spec.seeds == [0, 1, 2]
    path, config = spec.program_config("zoo")
    assert path == "forwardkit_cnn_filter_db.study:seed_study"
    assert ZooStudyConfig(**config).widths == [8, 16, 32, 64] and config["epochs"] == 3
    assert ZooStudyConfig(**spec.program_config("zoo", smoke=True)[1]).train_size == 32
