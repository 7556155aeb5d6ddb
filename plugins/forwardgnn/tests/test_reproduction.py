"""The reproduction spec carries the card's whole pass bar; the feature-only arm sees no edges."""

from __future__ import annotations

import torch
from forwardkit_forwardgnn.reproduction import FAR_ABOVE_CHANCE, SPEC

import forwardkit
from forwardkit.config import validate_experiment
from forwardkit.reproduce.conditions import Compare, Threshold


def test_the_spec_transcribes_the_cards_pass_bar() -> None:
    assert "SF mean within 3 points of BP and far above chance (20%)" in SPEC.pass_bar
    assert "SF more than 5 points below BP on all depths" in SPEC.pass_bar
    compares = [c for c in SPEC.conditions if isinstance(c, Compare)]
    thresholds = [c for c in SPEC.conditions if isinstance(c, Threshold)]
    assert [(c.method, c.baseline, c.test, c.margin) for c in compares] == [
        ("sf_L2", "bp_L2", "non_inferiority", 0.03), ("sf_L3", "bp_L3", "non_inferiority", 0.03)]
    assert [(c.figure.arm, c.op, c.value) for c in thresholds] == [("sf_L2", ">=", FAR_ABOVE_CHANCE),
                                                                  ("sf_L3", ">=", FAR_ABOVE_CHANCE)]
    assert FAR_ABOVE_CHANCE == 0.4 and len(SPEC.seeds) == 5 and SPEC.seed_data and SPEC.paired
    assert set(SPEC.used_arms()) == {"bp_L2", "sf_L2", "bp_L3", "sf_L3"}  # mlp, top-down, FF: exploratory


def test_every_arm_validates_and_depths_match() -> None:
    for arm in SPEC.arms:
        exp = SPEC.experiment(arm, 4)
        validate_experiment(exp)
        validate_experiment(SPEC.experiment(arm, 4, smoke=True))
        assert exp["data"]["seed"] == 4 and exp["model"]["hidden"] == 64
        assert exp["model"]["num_layers"] == int(arm.rsplit("_L", 1)[1])


def test_the_feature_only_arm_has_the_same_features_and_split_and_no_edges() -> None:
    def graph(arm: str) -> dict[str, torch.Tensor]:
        data = {k: v for k, v in SPEC.experiment(arm, 3, smoke=True)["data"].items() if k != "name"}
        return forwardkit.create("dataset", "sbm_graph", **data).split("train")[0]

    gcn, mlp = graph("bp_L2"), graph("mlp_L2")
    assert gcn["edge_index"].shape[1] > 0 and mlp["edge_index"].shape[1] == 0
    for key in ("x", "y", "train_mask", "val_mask", "mask"):
        assert torch.equal(gcn[key], mlp[key]), key
    bp, feat = SPEC.experiment("bp_L2", 0), SPEC.experiment("mlp_L2", 0)
    assert {k: v for k, v in bp.items() if k not in ("data", "name")} == \
        {k: v for k, v in feat.items() if k not in ("data", "name")}
