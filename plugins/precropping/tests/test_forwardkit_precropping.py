"""Tests of the precropping plugin: the conformance kit, then the card's mechanism tests."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from forwardkit_precropping.compressor import PaiMask, PreCropping, precrop
from forwardkit_precropping.figures import nonzero_parameters
from forwardkit_precropping.graph import ChannelGraph
from forwardkit_precropping.mask import current_masks, remove_masks
from forwardkit_precropping.models import SmallResNet, SmallVGG
from forwardkit_precropping.scores import (
    global_density,
    layer_shuffle,
    pai_masks,
    prunable_layers,
    synflow_scores,
)
from forwardkit_precropping.solver import crop_plan, solve_log_alphas
from torch import nn

import forwardkit
from forwardkit.testing import make_conformance_test

torch.set_num_threads(1)

# One pytest case per (component of this plugin, conformance check).
test_conformance = make_conformance_test(plugin="precropping")

SMALL = {"widths": [8, 8, 16, 16, 32, 32], "image_size": 16}


def small_vgg(seed: int = 0, **kw: object) -> SmallVGG:
    torch.manual_seed(seed)
    return SmallVGG(**{**SMALL, **kw})


def test_components_are_registered_with_the_paper() -> None:
    reg = forwardkit.get_registry()
    for kind, name in [("compressor", "precropping"), ("compressor", "pai_mask"), ("analyzer", "pai_scorer"),
                       ("analyzer", "layerwise_density_analyzer"), ("model", "small_vgg"),
                       ("model", "small_resnet")]:
        info = reg.get(kind, name)
        assert info.plugin == "precropping" and info.paper is not None and info.paper.arxiv == "2203.02549"


def test_default_small_vgg_has_about_290k_parameters() -> None:
    n = sum(p.numel() for p in SmallVGG().parameters())
    assert 280_000 < n < 300_000


# ---- SynFlow --------------------------------------------------------------------------------------
def test_synflow_scores_are_data_independent_and_non_negative() -> None:
    model = small_vgg()
    a = pai_masks(model, "synflow", 0.2, data=[model.example_batch(4, generator=torch.Generator().manual_seed(1))],
                  iterations=5)
    b = pai_masks(model, "synflow", 0.2, data=[{"x": torch.full((7, 16, 16, 1), 3.0)}], iterations=5)
    assert all(torch.equal(a[n], b[n]) for n in a)
    s = synflow_scores(model, input_shape=(16, 16, 1))
    assert all(bool((v >= 0).all()) for v in s.values())
    assert sum(float(v.sum()) for v in s.values()) > 0


def test_synflow_hits_the_global_density_and_leaves_the_model_untouched() -> None:
    model = small_vgg()
    model.train()
    before = copy.deepcopy(model.state_dict())
    d = 0.05
    masks = pai_masks(model, "synflow", d, iterations=20)
    total = sum(m.numel() for m in masks.values())
    kept = sum(int(m.sum()) for m in masks.values())
    assert abs(kept - d * total) <= len(masks)  # within one weight per layer
    after = model.state_dict()
    for k, v in before.items():  # weights (and their signs), BN statistics and biases are unchanged
        assert torch.equal(v, after[k]), k
    assert model.training
    assert set(masks) == {n for n, m in model.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)}


def test_synflow_restores_signs_and_never_touches_bias_or_bn() -> None:
    model = small_vgg()
    signs = {n: p.sign().clone() for n, p in model.named_parameters()}
    model_masked = PaiMask(density=0.2, iterations=5, latency=False).compress(model)[0]
    for name, p in model_masked.named_parameters():
        if name.endswith("weight") and p.dim() > 1:
            nz = p != 0
            assert torch.equal(p.sign()[nz], signs[name][nz])  # kept weights keep their sign
        else:  # BN scale/shift and biases: never pruned
            assert bool((p != 0).all()) or name.endswith("bias"), name
            assert torch.equal(p.sign(), signs[name])


def test_snip_grasp_magnitude_random_give_exact_global_counts() -> None:
    model = small_vgg()
    data = [model.example_batch(16, generator=torch.Generator().manual_seed(0))]
    total = sum(m.weight.numel() for m in prunable_layers(model).values())
    for method in ("snip", "grasp", "magnitude", "random"):
        masks = pai_masks(model, method, 0.1, data=data, batch_size=16)
        assert sum(int(m.sum()) for m in masks.values()) == round(0.1 * total), method


# ---- masked baseline and layer shuffle ------------------------------------------------------------
def test_layer_shuffle_preserves_nnz_and_moves_positions() -> None:
    model = small_vgg()
    masks = pai_masks(model, "magnitude", 0.2)
    shuffled = layer_shuffle(masks, seed=3)
    for n in masks:
        assert int(shuffled[n].sum()) == int(masks[n].sum())
        if 0 < int(masks[n].sum()) < masks[n].numel() and masks[n].numel() > 50:
            assert not torch.equal(shuffled[n], masks[n])


def test_masked_weights_stay_zero_through_training_and_deepcopy() -> None:
    model = small_vgg()
    model, report = PaiMask(method="magnitude", density=0.1, latency=False).compress(model)
    masks = current_masks(model)
    assert report.after.parameters == nonzero_parameters(model) < report.before.parameters
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    for step in range(3):
        batch = model.example_batch(8, generator=torch.Generator().manual_seed(step))
        opt.zero_grad()
        nn.functional.cross_entropy(model(batch["x"]), batch["y"]).backward()
        opt.step()
        model(batch["x"])  # the next forward sees the masked weights
        for n, m in masks.items():
            assert bool((model.get_submodule(n).weight[~m] == 0).all())
    clone = copy.deepcopy(model)
    x = model.example_batch(2)["x"]
    assert torch.allclose(clone.eval()(x), model.eval()(x))
    baked = remove_masks(copy.deepcopy(model))
    assert not current_masks(baked) and torch.allclose(baked(x), model(x))


# ---- solver ---------------------------------------------------------------------------------------
def chain(n: int, width: int = 64, numel: int = 1000) -> ChannelGraph:
    g = ChannelGraph()
    prev = g.add_group("in", 3, fixed=True)
    for i in range(n):
        g.add_group(f"g{i}", width)
        g.add_layer(f"l{i}", prev, f"g{i}", numel=numel, macs=numel)
        prev = f"g{i}"
    g.add_group("out", 10, fixed=True)
    g.add_layer("head", prev, "out", numel=numel, macs=numel)
    return g


def test_chain_with_equal_densities_gives_sqrt_d_inside() -> None:
    d = 0.1
    g = chain(9)
    plan = crop_plan(g, dict.fromkeys([layer.name for layer in g.layers], d), d, min_channels=1)
    interior = [plan.alphas[f"g{i}"] for i in range(3, 6)]
    assert all(abs(a - math.sqrt(d)) < 0.05 for a in interior), interior


def test_solver_bounds_ties_and_total_on_small_resnet() -> None:
    torch.manual_seed(0)
    model = SmallResNet(widths=[16, 32, 64], blocks=2, image_size=16)
    graph = model.channel_graph()
    dens = {layer.name: p for layer, p in zip(graph.layers, torch.linspace(0.02, 0.9, len(graph.layers)).tolist(),
                                               strict=True)}
    plan = crop_plan(graph, dens, 0.1, min_channels=4)
    for g in graph.free:
        assert 4 / graph.groups[g].width - 1e-9 <= plan.alphas[g] <= 1.0 + 1e-9
    narrow = model.with_widths(plan.widths)
    # tie groups: every residual sum of a stage has one width, so the narrow model runs
    assert narrow(model.example_batch(2)["x"]).shape == (2, 10)
    assert abs(plan.kept - 0.1 * plan.total) <= 0.01 * 0.1 * plan.total


def test_cropped_vgg_params_within_one_percent_and_formula() -> None:
    model = SmallVGG()
    narrow, _plan, _ = precrop(model, 0.1, scorer="synflow", iterations=10)
    graph = model.channel_graph()
    prunable = sum(m.weight.numel() for m in prunable_layers(narrow).values())
    assert abs(prunable - 0.1 * graph.total()) <= 0.01 * 0.1 * graph.total()
    # analytic parameter count: conv weights, BN scale+shift, head weight+bias
    w = [1, *narrow.config.widths]
    analytic = sum(9 * w[i] * w[i + 1] + 2 * w[i + 1] for i in range(len(w) - 1)) + w[-1] * 10 + 10
    assert sum(p.numel() for p in narrow.parameters()) == analytic


def test_cropped_model_is_plain_dense_and_keeps_the_signature() -> None:
    model = small_vgg()
    x = model.example_batch(3)["x"]
    narrow, report = PreCropping(density=0.2, iterations=5, latency=False).compress(model, [{"x": x}])
    assert type(narrow) is SmallVGG and narrow.config.widths != model.config.widths
    assert narrow(x).shape == model(x).shape
    for m in narrow.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
        assert not hasattr(m, "parametrizations") and not hasattr(m, "weight_mask")
    assert report.after.parameters == sum(p.numel() for p in narrow.parameters())
    assert report.after.macs < report.before.macs and report.after.bytes < report.before.bytes


def test_flops_budget_matches_the_measured_macs() -> None:
    from forwardkit.measure import count_macs

    model = SmallVGG(widths=[16, 16, 32, 32, 64, 64], image_size=16)
    narrow, _plan, _ = precrop(model, 0.2, scorer="magnitude", budget="flops", min_channels=2)
    x = model.example_batch(1)["x"]
    dense_macs, narrow_macs = count_macs(lambda: model(x)), count_macs(lambda: narrow(x))
    # conv/linear MACs are the budget; BN, pooling and the mean are not MACs in the counter
    assert abs(narrow_macs - 0.2 * dense_macs) <= 0.01 * 0.2 * dense_macs


def test_uniform_scorer_is_uniform_width_scaling() -> None:
    model = SmallVGG()
    _, plan, dens = precrop(model, 0.1, scorer="uniform")
    assert set(dens.values()) == {0.1}
    inner = [plan.widths[f"c{i}"] / w for i, w in enumerate(model.config.widths)][1:-1]
    assert all(abs(a - math.sqrt(0.1)) < 0.08 for a in inner), inner


def test_balance_zero_is_the_plain_least_squares() -> None:
    g = chain(4)
    dens = dict.fromkeys([layer.name for layer in g.layers], 0.25)
    x = solve_log_alphas(g, dens, balance=0.0, min_channels=1)
    # plain least squares fits the products exactly where it can (first layer: alpha = p)
    assert abs(math.exp(x[0]) - 0.25) < 0.1


def test_same_seed_same_masks_alphas_widths() -> None:
    runs = []
    for _ in range(2):
        model = small_vgg(seed=5)
        _narrow, plan, dens = precrop(model, 0.1, scorer="random", seed=7)
        runs.append((plan.widths, plan.alphas, dens))
    assert runs[0] == runs[1]
    a = pai_masks(small_vgg(seed=5), "synflow", 0.1, iterations=5)
    b = pai_masks(small_vgg(seed=5), "synflow", 0.1, iterations=5)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert global_density(a) == pytest.approx(0.1, abs=1e-3)


def test_round_to_gives_multiples() -> None:
    _, plan, _ = precrop(SmallVGG(), 0.2, scorer="uniform", round_to=8)
    assert all(w % 8 == 0 for w in plan.widths.values())


def test_analyzer_reports_residuals_of_the_crop() -> None:
    analysis = forwardkit.create("analyzer", "layerwise_density_analyzer", scorers=["magnitude"],
                                 crop_scorer="magnitude", figure=False).analyze(small_vgg())
    rows = analysis.tables["layerwise_density"]
    assert {"magnitude", "cropped", "residual"} <= set(rows[0])
    assert analysis.numbers["cropped/achieved_density"] == pytest.approx(0.1, rel=0.02)


def test_speed_benchmark_smoke(tmp_path: object) -> None:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "speed.py"
    spec = importlib.util.spec_from_file_location("precropping_speed", path)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    out = Path(str(tmp_path)) / "speed.json"
    result = mod.main(["--smoke", "--out", str(out)])
    assert out.exists()
    arms = result["models"]
    assert {"dense", "cropped", "masked"} <= set(arms)
    assert arms["cropped"]["parameters"] < arms["dense"]["parameters"]
    assert arms["masked"]["macs"] == arms["dense"]["macs"]


def test_paired_latency_times_both_models_and_restores_their_modes() -> None:
    from forwardkit_precropping.figures import paired_latency

    dense, narrow = small_vgg().train(), small_vgg(widths=[4, 4, 8, 8, 8, 8]).eval()
    lat = paired_latency({"dense": dense, "narrow": narrow}, dense.example_batch(4)["x"], warmup=1, repeats=3)
    assert set(lat) == {"dense", "narrow"} and all(v > 0 for v in lat.values())
    assert dense.training and not narrow.training


@pytest.mark.parametrize("compressor", [PreCropping, PaiMask])
def test_compressors_time_dense_and_compressed_at_the_latency_batch(compressor: type) -> None:
    model = small_vgg()
    kept = copy.deepcopy(model.state_dict())
    _out, report = compressor(density=0.2, iterations=5, latency_batch=8, latency_warmup=1,
                              latency_repeats=3).compress(model)
    assert report.before.latency_ms > 0 and report.after.latency_ms > 0
    if compressor is PreCropping:  # the dense input is left as it was
        assert all(torch.equal(kept[k], v) for k, v in model.state_dict().items())


def test_solver_accepts_a_group_already_at_min_channels() -> None:
    model = SmallVGG(widths=[4, 4, 8, 8, 8, 8], image_size=8)
    _, plan, _ = precrop(model, 0.2, scorer="uniform", min_channels=4)
    assert plan.widths["c0"] == 4 and all(w >= 4 for w in plan.widths.values())


def test_reproduction_spec_carries_the_cards_whole_pass_bar() -> None:
    from forwardkit.reproduce.spec import load_spec

    spec = load_spec("forwardkit_precropping.reproduction:SPEC")
    assert "|acc(d) − acc(b)| ≤ 1.5 points" in spec.pass_bar and "≥ 2× at batch 64" in spec.pass_bar  # noqa: RUF001
    assert "worse than the uniform-scaling baseline (e)" in spec.pass_bar
    kinds = [(c.kind, getattr(c, "test", None), getattr(c, "margin", None)) for c in spec.conditions]
    assert kinds == [("compare", "equivalence", 0.015), ("threshold", None, None),
                     ("compare", "non_inferiority", 0.03), ("compare", "non_inferiority", 0.0)]
    assert spec.conditions[1].value == 2.0 and spec.conditions[1].figure.over is not None
    assert {"dense", "pai_synflow", "pai_synflow_shuffled", "precropping", "uniform_width", "pai_random"} <= set(
        spec.arms)
    assert set(spec.used_arms()) == {"pai_synflow", "precropping", "uniform_width"}
    exp = spec.experiment("precropping", 0)
    (crop,) = exp["compressors"]
    assert crop["latency_batch"] == 64 and crop["density"] == 0.1
    assert spec.experiment("precropping_d002", 0)["compressors"][0]["density"] == 0.02
