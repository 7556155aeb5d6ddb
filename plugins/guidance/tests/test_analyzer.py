"""The similarity analyzers and the tap list."""

from __future__ import annotations

import torch
from forwardkit_guidance.config import GuideConfig
from forwardkit_guidance.guide import build_guide
from forwardkit_guidance.similarity import linear_cka
from forwardkit_guidance.taps import extract_taps

import forwardkit

CNN = {"model": {"name": "guidance_cnn", "in_channels": 1, "num_classes": 4, "widths": [4, 6, 8], "pool_size": 2},
       "seed": 2}


def batches() -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    return [{"x": torch.rand(16, 8, 8, 1, generator=g), "y": torch.randint(0, 4, (16,), generator=g)}
            for _ in range(3)]


def test_a_model_against_a_copy_of_itself_has_cka_one_on_the_mapped_pairs():
    analyzer = forwardkit.create("analyzer", "linear_cka", reference=CNN, max_samples=40)
    torch.manual_seed(CNN["seed"])
    same = forwardkit.create("model", "guidance_cnn", **{k: v for k, v in CNN["model"].items() if k != "name"})
    result = analyzer.analyze(same, batches())
    assert result.numbers["samples"] == 40 and result.numbers["layers_model"] == 4
    assert result.numbers["mapped_mean"] > 1 - 1e-5  # G = S: the identity mapping, the same weights
    assert [(r["reference_tap"], r["model_tap"]) for r in result.tables["pairs"]] == \
        [("conv1", "conv1"), ("conv2", "conv2"), ("conv3", "conv3"), ("pool2", "pool2")]


def test_numbers_are_the_cka_of_the_mapped_taps():
    model = forwardkit.create("model", "mlp", in_features=64, hidden=[8] * 6, num_classes=4)
    result = forwardkit.create("analyzer", "linear_cka", reference=CNN, max_samples=48).analyze(model, batches())
    x = torch.cat([b["x"] for b in batches()])
    mine = extract_taps(model, {"x": x})
    guide, _ = build_guide(GuideConfig.model_validate(CNN))
    theirs = extract_taps(guide, {"x": x})
    # G = 4 on S = 6: conv1 -> L0, conv2 -> L2, conv3 -> L3, pool2 -> L5
    assert set(k for k in result.numbers if k.startswith("t")) == {"t0_g0", "t2_g1", "t3_g2", "t5_g3"}
    assert abs(result.numbers["t2_g1"] - float(linear_cka(mine["net.4"], theirs["conv2"]))) < 1e-5
    rows = result.tables["similarity"]
    assert len(rows) == 6 and set(rows[0]) == {"tap", "conv1", "conv2", "conv3", "pool2"}


def test_rsa_and_self_similarity_and_the_tap_list():
    model = forwardkit.create("model", "mlp", in_features=64, hidden=[8, 8, 8], num_classes=4)
    own = forwardkit.create("analyzer", "rsa").analyze(model, batches())
    assert 0 < own.numbers["neighbour_mean"] <= 1 and own.numbers["layers_model"] == 3
    assert all(abs(r[r["tap"]] - 1) < 1e-5 for r in own.tables["similarity"])  # each tap with itself
    taps = forwardkit.create("analyzer", "layer_taps").analyze(model, batches())
    assert taps.numbers == {"layers": 3.0, "features": 24.0}
    assert [r["tap"] for r in taps.tables["taps"]] == ["net.0", "net.2", "net.4"]
    assert {r["module"] for r in taps.tables["taps"]} == {"Linear"}
