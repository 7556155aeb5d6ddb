"""The card's own tests: bases, one-hot selection, phase-2 masking, exact pruning, resume, parameter counts."""

from __future__ import annotations

import math

import pytest
import torch
from forwardkit_s_kan import bases
from forwardkit_s_kan.layers import KANLayer, SKANLayer, kan_layer_reference, space_parameter_count
from forwardkit_s_kan.mixers import KANFFN, SKANFFN
from forwardkit_s_kan.model import SKANRegressor
from forwardkit_s_kan.prune import SKANPrune, prune_skan, select_
from forwardkit_s_kan.schedule import SKANPhaseSchedule, phase_at

import forwardkit
from forwardkit.errors import ConfigError

SPACES = ("bspline", "chebyshev", "rbf", "fourier", "wavelet")


def test_bspline_bases_are_a_partition_of_unity_inside_the_grid() -> None:
    for g, k in ((5, 3), (4, 2), (7, 1)):
        x = torch.linspace(-1, 1 - 1e-6, 401, dtype=torch.float64)
        b = bases.bspline_bases(x, bases.bspline_knots(g, k).double(), k)
        assert b.shape == (401, g + k)
        assert (b >= 0).all() and torch.allclose(b.sum(-1), torch.ones(401, dtype=torch.float64), atol=1e-6)
    outside = bases.bspline_bases(torch.tensor([-5.0, 5.0]), bases.bspline_knots(5, 3), 3)
    assert torch.all(outside.sum(-1) < 1e-6)  # the property is a grid property: it fails outside


def test_chebyshev_identity_and_rbf_peaks() -> None:
    t = torch.linspace(0, math.pi, 97, dtype=torch.float64)
    tn = bases.chebyshev_bases(torch.cos(t), 6)
    for n in range(7):
        assert torch.allclose(tn[:, n], torch.cos(n * t), atol=1e-5), n
    mu = bases.rbf_centers(8)
    g = bases.rbf_bases(mu, mu, 4 / 7)
    assert torch.allclose(torch.diagonal(g), torch.ones(8)) and (g <= 1).all()
    assert torch.all(g - torch.eye(8) < 1)


@pytest.mark.parametrize("space", SPACES)
def test_vectorised_layer_equals_the_paper_literal_edge_sum(space: str) -> None:
    torch.manual_seed(0)
    layer = KANLayer(space, 3, 4)
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(6, 3)
    assert torch.allclose(layer(x), kan_layer_reference(layer, x), atol=1e-5)


@pytest.mark.parametrize("space", SPACES)
def test_parameter_count_formulas_match_numel(space: str) -> None:
    for d_in, d_out in ((3, 4), (1, 5)):
        layer = KANLayer(space, d_in, d_out, grid_size=6, spline_order=2, degree=3, num_centers=7, fourier_terms=4)
        expected = space_parameter_count(space, d_in, d_out, grid_size=6, spline_order=2, degree=3, num_centers=7,
                                         fourier_terms=4)
        assert sum(p.numel() for p in layer.parameters()) == expected
    assert space_parameter_count("chebyshev", 3, 4, degree=4) == 3 * 4 * 5
    assert space_parameter_count("fourier", 3, 4, fourier_terms=5) == 2 * 3 * 4 * 5 + 4


@pytest.mark.parametrize("m", range(5))
def test_one_hot_selection_equals_the_single_space_ffn(m: int) -> None:
    torch.manual_seed(1)
    skan = SKANFFN(dim=6, weight_norm="none")
    kan = KANFFN(dim=6, space=SPACES[m])
    with torch.no_grad():
        for name in ("layer1", "layer2"):
            layer = getattr(skan, name)
            layer.alpha.copy_(torch.nn.functional.one_hot(torch.full((layer.d_out,), m), 5).float())
            getattr(kan, name).load_state_dict(layer.branches[m].state_dict())
    x = torch.randn(2, 3, 6)
    assert torch.allclose(skan(x), kan(x), atol=1e-6)


def _trained_skan(weight_norm: str = "softmax") -> SKANLayer:
    torch.manual_seed(2)
    layer = SKANLayer(3, 4, pool=["bspline", "chebyshev", "fourier"], weight_norm=weight_norm)
    with torch.no_grad():
        layer.alpha.copy_(torch.randn(4, 3))
    return layer


@pytest.mark.parametrize("weight_norm", ["softmax", "none"])
def test_phase2_masked_branches_get_zero_gradient_and_do_not_matter(weight_norm: str) -> None:
    layer = _trained_skan(weight_norm)
    if weight_norm == "none":
        with torch.no_grad():
            layer.alpha.abs_()
    mask = layer.select(2)
    assert torch.all(mask.sum(-1) == 2)
    assert torch.allclose(layer.weights().sum(-1), torch.ones(4), atol=1e-6)  # kept weights renormalised
    assert torch.all(layer.weights()[mask == 0] == 0)
    x = torch.randn(5, 3)
    layer(x).square().sum().backward()
    for m, branch in enumerate(layer.branches):
        masked = (mask[:, m] == 0).nonzero().flatten()
        for p in branch.parameters():
            if p.grad is not None and p.dim() >= 1 and p.shape[0] == 4:
                assert torch.all(p.grad[masked] == 0)
    y = layer(x).detach()
    with torch.no_grad():
        for m, branch in enumerate(layer.branches):
            masked = (mask[:, m] == 0).nonzero().flatten()
            for p in branch.parameters():
                if p.dim() >= 1 and p.shape[0] == 4:
                    p[masked] += torch.randn_like(p[masked])
    assert torch.equal(layer(x), y)


def test_a_space_masked_everywhere_is_not_computed() -> None:
    layer = _trained_skan()
    with torch.no_grad():
        layer.alpha.zero_()
        layer.alpha[:, 0] = 5.0
    layer.select(1)
    layer(torch.randn(2, 3)).sum().backward()
    assert all(p.grad is None for b in layer.branches[1:] for p in b.parameters())


def test_pruning_is_exact_and_counts_kept_branches() -> None:
    torch.manual_seed(3)
    model = SKANRegressor(in_features=3, hidden=5, pool=["bspline", "chebyshev", "rbf", "fourier"])
    with torch.no_grad():
        for layer in model.layers:
            layer.alpha.copy_(torch.randn_like(layer.alpha) * 3)
    select_(model, 1)
    x = torch.rand(16, 3) * 2 - 1
    pruned = prune_skan(model)
    assert torch.allclose(pruned(x), model(x), atol=1e-6)
    expected = 0
    for layer in model.layers:
        for m, space in enumerate(layer.pool):
            k = int(layer.mask[:, m].sum())
            if k:
                expected += space_parameter_count(space, layer.d_in, k) + k  # branch + its selection weights
    assert sum(p.numel() for p in pruned.parameters()) == expected
    assert sum(p.numel() for p in pruned.parameters()) < sum(p.numel() for p in model.parameters())
    _, report = SKANPrune(latency_repeats=1).compress(model, [{"x": x, "y": torch.randn(16, 1)}])
    assert report.details["rmse_delta"] == pytest.approx(0.0, abs=1e-6)
    assert report.after.parameters == expected and report.before.parameters > expected


def test_phase_boundaries() -> None:
    fr = (0.6, 0.25, 0.15)
    assert [phase_at(s, 1000, fr) for s in (0, 599, 600, 849, 850, 999)] == [1, 1, 2, 2, 3, 3]


def _experiment(max_steps: int | None = None) -> dict:
    exp = {
        "data": {"name": "kan_function_suite", "task": 3, "n_train": 64, "n_val": 16, "n_test": 16},
        "model": {"name": "skan_regressor", "hidden": 3, "pool": ["chebyshev", "fourier", "rbf"]},
        "learning_rule": {"name": "backprop", "optimizer": "adam", "lr": 0.01},
        "callbacks": [{"name": "skan_phase_schedule", "phase_fracs": [0.3, 0.4, 0.3]}],
        "trainer": {"epochs": 5, "batch_size": 16, "eval_every": 0, "checkpoint_every_steps": 1},
        "seed": 0,
    }
    if max_steps:
        exp["trainer"]["max_steps"] = max_steps
    return exp


class _Stop(Exception):
    pass


def test_resume_in_phase2_reproduces_masks_phase_and_losses(tmp_path) -> None:
    from forwardkit.engine import Trainer

    exp = _experiment()

    class Cut(Trainer):
        def save_checkpoint(self, *args, **kwargs):  # stop right after the checkpoint of step 9 (phase 2)
            out = super().save_checkpoint(*args, **kwargs)
            if self.ctx.step == 9:
                raise _Stop
            return out

    full = Trainer(exp, run_dir=tmp_path / "full", verbose=False)
    full.fit()
    cut = Cut(exp, run_dir=tmp_path / "cut", verbose=False)
    with pytest.raises(_Stop):
        cut.fit()
    cb_cut = next(c for c in cut.callbacks if isinstance(c, SKANPhaseSchedule))
    assert cb_cut.phase == 2 and cb_cut.switch_steps == [6]
    resumed = Trainer(exp, run_dir=tmp_path / "cut", resume=True, verbose=False)
    resumed.fit()
    cb_full = next(c for c in full.callbacks if isinstance(c, SKANPhaseSchedule))
    cb_res = next(c for c in resumed.callbacks if isinstance(c, SKANPhaseSchedule))
    assert cb_res.state_dict() == cb_full.state_dict() and cb_full.phase == 3
    for a, b in zip(full.model.layers, resumed.model.layers, strict=True):
        assert torch.equal(a.mask, b.mask) and (a.mask.sum(-1) == 1).all()
    sa, sb = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert full.ctx.last_metrics == resumed.ctx.last_metrics


def test_bad_configs_name_the_field() -> None:
    with pytest.raises(ConfigError, match="select_top_k"):
        forwardkit.create("channel_mixer", "skan_ffn", dim=4, pool=["bspline"], select_top_k=2)
    with pytest.raises(ConfigError, match="phase_fracs"):
        forwardkit.create("callback", "skan_phase_schedule", phase_fracs=[0.5, 0.5, 0.5])
    with pytest.raises(ConfigError, match="space"):
        forwardkit.create("channel_mixer", "kan_ffn", dim=4, space="legendre")
    with pytest.raises(ConfigError, match="temperature"):
        forwardkit.create("channel_mixer", "skan_ffn", dim=4, temperature=0)


def test_dataset_tasks_have_their_dimensions() -> None:
    for task, d in {1: 1, 2: 2, 4: 4, 5: 1, 7: 2}.items():
        ds = forwardkit.create("dataset", "kan_function_suite", task=task, n_train=10, n_val=2, n_test=5)
        assert ds.metadata.input_shape == (d,) and ds.metadata.target_shape == (1,)
    y = forwardkit.create("dataset", "kan_function_suite", task=3, n_train=50, n_test=5).split("train")
    assert torch.allclose(y.y[:, 0], y.x[:, 0] * y.x[:, 1])


def test_reference_composition_mf_tiny_with_skan_ffn_in_stages_3_and_4() -> None:
    torch.manual_seed(0)
    model = forwardkit.build_model({
        "name": "metaformer", "depths": [1, 1, 2, 1], "dims": [16, 32, 48, 64], "in_channels": 1,
        "num_classes": 10, "channel_mixers": ["mlp", "mlp", {"name": "skan_ffn", "hidden_ratio": 1.0},
                                              {"name": "skan_ffn", "hidden_ratio": 1.0}]})
    skan = [m for m in model.modules() if isinstance(m, SKANFFN)]
    assert len(skan) == 3
    out = model(torch.randn(2, 16, 16, 1))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(layer.alpha.grad is not None for m in skan for layer in (m.layer1, m.layer2))
