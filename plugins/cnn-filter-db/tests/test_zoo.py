"""The miniature zoo (dataset of filters), the zoo study script (--smoke) and the reproduction spec."""

from __future__ import annotations

import json

import numpy as np
import torch
from forwardkit_cnn_filter_db.study import main
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


def test_study_smoke_writes_tables_and_plots(tmp_path) -> None:
    assert main(["--smoke", "--out", str(tmp_path)]) == 0
    for name in ("study.json", "quality.csv", "shift.csv", "summary.md", "study.png", "kl_matrix.png"):
        assert (tmp_path / name).exists(), name
    data = json.loads((tmp_path / "study.json").read_text())
    seeds = data["verdict"]["per_seed"]
    assert set(seeds) == {"0", "1"}
    assert all(np.isfinite(v["cross_depth"]) and v["cross_depth"] >= 0 for v in seeds.values())


def test_reproduction_spec_arms_differ_only_in_training_budget() -> None:
    spec = load_spec("forwardkit_cnn_filter_db.reproduction:SPEC")
    a, b = spec.experiment("untrained", 0), spec.experiment("trained", 0)
    assert a["trainer"]["epochs"] == 0 and b["trainer"]["epochs"] == 3
    a["trainer"].pop("epochs"), b["trainer"].pop("epochs")
    a.pop("name"), b.pop("name")
    assert a == b and spec.metric.startswith("analysis/filter_quality/")
