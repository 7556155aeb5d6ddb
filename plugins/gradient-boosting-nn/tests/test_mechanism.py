"""The card's tests of the mechanism: the losses' F_0, pseudo-residuals and Newton steps against autograd, the merge
of the stages into one network, staged prediction, stage locality, the loss along the stages, exact resume."""

from __future__ import annotations

import copy
import itertools
import math

import pytest
import torch
from forwardkit_gradient_boosting_nn import losses as L
from forwardkit_gradient_boosting_nn.model import BoostedMLP, StagedEnsemble
from forwardkit_gradient_boosting_nn.rule import GradientBoostedHead, boost
from forwardkit_gradient_boosting_nn.stage import StageNet

from forwardkit.interfaces import RunContext


def _problem(loss: str, n: int = 40, d: int = 5, k: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Rows ``(n, d)`` and targets for ``loss``: regression values, 2 classes, or ``k`` classes."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    if loss == "squared":
        return x, (x[:, :1] * 2 - x[:, 1:2].pow(2) + 0.1 * torch.randn(n, 1, generator=g)), 1
    classes = 2 if loss == "binary_logexp" else k
    w = torch.randn(d, classes, generator=g)
    return x, (x @ w + 0.5 * torch.randn(n, classes, generator=g)).argmax(1), classes


def _autograd_loss(loss: str, Y: torch.Tensor, F: torch.Tensor) -> torch.Tensor:
    """Sum over rows of the loss, written independently of the module (for autograd)."""
    if loss == "squared":
        return 0.5 * (Y - F).pow(2).sum()  # r = y - F is -d/dF of the half squared error
    if loss == "binary_logexp":
        return torch.log1p(torch.exp(-2.0 * Y * F)).sum()
    return -(Y * (F - torch.logsumexp(F, dim=1, keepdim=True))).sum()


# ---- pseudo-residuals, F_0 and the Newton step ----------------------------------------------------------------
@pytest.mark.parametrize("loss", L.LOSSES)
def test_pseudo_residuals_are_the_negative_gradient(loss: str) -> None:
    _, y, k = _problem(loss)
    Y = L.encode_targets(loss, y, k)
    F = torch.randn(Y.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    F.requires_grad_(True)
    (grad,) = torch.autograd.grad(_autograd_loss(loss, Y.double(), F), F)
    r = L.pseudo_residuals(loss, Y.double(), F.detach())
    assert torch.allclose(r, -grad, atol=1e-12)
    if loss == "squared":
        assert torch.equal(r, Y.double() - F.detach())
    if loss == "softmax_ce":
        assert torch.allclose(r.sum(dim=1), torch.zeros(len(r), dtype=torch.float64), atol=1e-12)  # rows sum to 0
    if loss == "binary_logexp":  # the official formula 2y / (1 + exp(2yF))
        assert torch.allclose(r, 2 * Y.double() / (1 + torch.exp(2 * Y.double() * F.detach())), atol=1e-12)


def test_initial_constants() -> None:
    _, y_reg, _ = _problem("squared")
    assert torch.allclose(L.initial_constant("squared", y_reg), y_reg.mean(0))
    _, y_bin, _ = _problem("binary_logexp")
    p = y_bin.float().mean()
    f0 = L.initial_constant("binary_logexp", L.encode_targets("binary_logexp", y_bin, 2))
    assert torch.allclose(f0, 0.5 * torch.log(p / (1 - p)).reshape(1), atol=1e-6)  # half the log-odds
    _, y_mc, k = _problem("softmax_ce", k=4)
    Y = L.encode_targets("softmax_ce", y_mc, k)
    assert torch.equal(L.initial_constant("softmax_ce", Y), torch.zeros(k))  # the official code's zeros
    optimal = L.initial_constant("softmax_ce", Y, f0="optimal")
    priors = Y.mean(0)
    assert torch.allclose(torch.softmax(optimal, 0), priors, atol=1e-6)  # log-priors up to a constant
    # and it minimises the average loss: no gradient there (each is a true F_0)
    for loss, targets in (("squared", y_reg), ("binary_logexp", L.encode_targets("binary_logexp", y_bin, 2)),
                          ("softmax_ce", Y)):
        targets = targets.double()
        const = L.initial_constant(loss, targets, f0="optimal").clone().requires_grad_(True)
        total = _autograd_loss(loss, targets, const.expand(len(targets), -1))
        (g,) = torch.autograd.grad(total, const)
        assert g.abs().max() < 1e-6, loss


def _newton_by_autograd(loss: str, Y: torch.Tensor, F: torch.Tensor, f: torch.Tensor) -> float:
    rho = torch.zeros((), dtype=torch.float64, requires_grad=True)
    total = _autograd_loss(loss, Y, F + rho * f)
    (g,) = torch.autograd.grad(total, rho, create_graph=True)
    (h,) = torch.autograd.grad(g, rho)
    return float((-g / h).detach())


@pytest.mark.parametrize("loss", L.LOSSES)
def test_newton_step_against_the_second_derivative(loss: str) -> None:
    _, y, k = _problem(loss)
    Y = L.encode_targets(loss, y, k).double()
    g = torch.Generator().manual_seed(2)
    F = 0.5 * torch.randn(Y.shape, generator=g, dtype=torch.float64)
    f = torch.randn(Y.shape, generator=g, dtype=torch.float64)
    r = L.pseudo_residuals(loss, Y, F)
    exact = _newton_by_autograd(loss, Y, F, f)
    assert L.newton_step(loss, Y, r, f, mode="exact") == pytest.approx(exact, rel=1e-9)
    code = L.newton_step(loss, Y, r, f, mode="code")
    if loss == "squared":
        assert code == 1.0  # the official step: a least-squares fit needs none
    elif loss == "binary_logexp":
        assert code == pytest.approx(exact, rel=1e-9)  # the official formula is the exact Newton step
    else:
        # the official multi-class step keeps the diagonal of the softmax Hessian: sum f^2 P (1 - P)
        P = torch.softmax(F, 1)
        assert code == pytest.approx(float((f * r).sum() / (f * f * P * (1 - P)).sum()), rel=1e-9)
        assert code != pytest.approx(exact, rel=1e-3)


# ---- the merged network ----------------------------------------------------------------------------------
def _random_stages(loss: str, t: int = 4, j: int = 3, d: int = 5, k: int = 3, seed: int = 0
                   ) -> tuple[list[StageNet], list[float], torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ks = L.stage_outputs(loss, k)
    nets = [StageNet(d, j, ks).init_(g) for _ in range(t)]
    rhos = [float(v) for v in torch.rand(t, generator=g) * 2 - 0.5]
    return nets, rhos, torch.randn(ks, generator=g), L.embedding(loss, k)


@pytest.mark.parametrize("loss", L.LOSSES)
def test_merged_network_equals_the_staged_sum(loss: str) -> None:
    k = 2 if loss == "binary_logexp" else 3
    nets, rhos, f0, embed = _random_stages(loss, k=k)
    merged = BoostedMLP.from_stages(nets, rhos, f0, embedding=embed)
    x = torch.randn(16, 5, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        F = f0 + sum(rho * net(x) for net, rho in zip(nets, rhos, strict=True))  # F_0 + sum_t rho_t h_t(x)
        out = merged(x)
    assert merged.hidden.out_features == 4 * 3 and out.shape == (16, k)
    if loss == "binary_logexp":  # logits [0, 2F]: the factor 2 of the official to_NN
        assert torch.allclose(out[:, 0], torch.zeros(16)) and (out[:, 1:] - 2 * F).abs().max() < 1e-5
        assert torch.allclose(torch.softmax(out, 1)[:, 1:], torch.sigmoid(2 * F), atol=1e-6)
    else:
        assert (out - F).abs().max() < 1e-5
    ensemble = StagedEnsemble(f0, nets, rhos, embed)
    assert (ensemble(x) - out).abs().max() < 1e-5 and (ensemble.merge()(x) - out).abs().max() < 1e-5


def test_staged_prediction_equals_switching_off_the_later_units() -> None:
    nets, rhos, f0, embed = _random_stages("softmax_ce", t=5, j=2)
    model = BoostedMLP.from_stages(nets, rhos, f0, embedding=embed)
    ensemble = StagedEnsemble(f0, nets, rhos, embed)
    x = torch.randn(8, 5)
    with torch.no_grad():
        staged = model.staged_outputs(x)
        for t in range(1, 6):
            # by hand: only units < t*J, and only the output biases of the first t stages
            h = torch.sigmoid(x @ model.hidden.weight[: 2 * t].T + model.hidden.bias[: 2 * t])
            bias = embed @ f0 + sum(rhos[s] * (embed @ nets[s].out.bias) for s in range(t))
            by_hand = h @ model.out.weight[:, : 2 * t].T + bias
            assert (model(x, n_stages=t) - by_hand).abs().max() < 1e-5
            assert (model.truncated(t)(x) - by_hand).abs().max() < 1e-5
            assert (staged[t] - by_hand).abs().max() < 1e-5 and (ensemble(x, t) - by_hand).abs().max() < 1e-5
            assert model.truncated(t).hidden.out_features == 2 * t
        assert (staged[0] - embed @ f0).abs().max() < 1e-6 and (staged[5] - model(x)).abs().max() < 1e-5


# ---- the rule ----------------------------------------------------------------------------------------------
def test_only_stage_t_changes_during_stage_t() -> None:
    x, y, k = _problem("softmax_ce", n=30)
    model = BoostedMLP(in_features=5, num_classes=k, stages=4, units_per_stage=2)
    rule = GradientBoostedHead(stage_max_iter=5, steps_per_stage=2, eta=0.5, seed=0)
    ctx = RunContext(model=model)
    rule.setup(model, ctx)
    for t in range(4):
        for _ in range(2):
            before = copy.deepcopy(model.state_dict())
            rule.step({"x": x, "y": y}, ctx)
            after = model.state_dict()
            block = model.stage_slice(t)
            others = torch.ones(8, dtype=torch.bool)
            others[block] = False
            for name in ("hidden.weight", "hidden.bias"):
                assert torch.equal(after[name][others], before[name][others]), (t, name)
            assert torch.equal(after["out.weight"][:, others], before["out.weight"][:, others])
            assert torch.equal(after["stage_bias"][torch.arange(4) != t], before["stage_bias"][torch.arange(4) != t])
        assert int(model.fitted) == t + 1 and not torch.equal(model.out.weight[:, block], torch.zeros(k, 2))
        # the output bias moved by exactly this stage's own term (and F_0 at the first stage)
    assert torch.allclose(model.out.bias, model.stage_bias.sum(0), atol=1e-6)  # F_0 = 0 (the code's softmax F_0)


@pytest.mark.parametrize("loss", L.LOSSES)
def test_training_loss_does_not_increase_over_stages(loss: str) -> None:
    x, y, k = _problem(loss, n=80)
    model, _ = boost(x, y, stages=12, units_per_stage=2, num_classes=2 if loss == "binary_logexp" else k,
                     eta=0.5, subsample=1.0, stage_max_iter=20)
    Y = L.encode_targets(loss, y, model.config.num_classes)
    with torch.no_grad():
        values = [float(L.loss_value(loss, Y, L.scores_from_logits(loss, o))) for o in model.staged_outputs(x)]
    rises = sum(b > a + 1e-6 for a, b in itertools.pairwise(values))
    assert rises <= 1, values  # a soft expectation: a rise is allowed once in 12 stages
    assert values[-1] < 0.7 * values[0]


def test_resume_inside_and_between_stages_reproduces_the_uninterrupted_model() -> None:
    x, y, _ = _problem("binary_logexp", n=30)
    for config in ({"stage_max_iter": 6}, {"stage_optimizer": "adam", "stage_max_iter": 4, "steps_per_stage": 3}):
        def fresh(config: dict = config) -> tuple[BoostedMLP, GradientBoostedHead, RunContext]:
            torch.manual_seed(0)
            model = BoostedMLP(in_features=5, num_classes=2, stages=4, units_per_stage=2)
            rule = GradientBoostedHead(seed=1, **config)
            ctx = RunContext(model=model)
            rule.setup(model, ctx)
            return model, rule, ctx

        steps = 4 * rule_steps(config)
        full, full_rule, ctx = fresh()
        for _ in range(steps):
            full_rule.step({"x": x, "y": y}, ctx)
        for cut in (1, rule_steps(config), steps - 1):  # inside stage 0 (or after it), after a stage, near the end
            model, rule, ctx = fresh()
            for _ in range(cut):
                rule.step({"x": x, "y": y}, ctx)
            saved_model, saved_rule = copy.deepcopy(model.state_dict()), copy.deepcopy(rule.state_dict())
            model2, rule2, ctx2 = fresh()  # a new process: fresh objects, then the checkpoint
            model2.load_state_dict(saved_model)
            rule2.load_state_dict(saved_rule)
            for _ in range(steps - cut):
                rule2.step({"x": x, "y": y}, ctx2)
            for name, value in full.state_dict().items():
                assert torch.equal(value, model2.state_dict()[name]), (config, cut, name)


def rule_steps(config: dict) -> int:
    return int(config.get("steps_per_stage", 1))


def test_frozen_hidden_parameters_stay_and_the_rule_refuses_other_models() -> None:
    x, y, k = _problem("softmax_ce")
    model = BoostedMLP(in_features=5, num_classes=k, stages=3, units_per_stage=2)
    model.hidden.weight.requires_grad_(False)
    weight = model.hidden.weight.detach().clone()
    rule = GradientBoostedHead(stage_max_iter=5, seed=0)
    ctx = RunContext(model=model)
    rule.setup(model, ctx)
    for _ in range(3):
        rule.step({"x": x, "y": y}, ctx)
    assert torch.equal(model.hidden.weight, weight) and int(model.fitted) == 3 and ctx.should_stop
    with pytest.raises(Exception, match="boosted_mlp"):
        GradientBoostedHead().setup(torch.nn.Linear(3, 3), RunContext(model=torch.nn.Linear(3, 3)))
    with pytest.raises(Exception, match="units_per_stage"):
        GradientBoostedHead(J=3).setup(model, RunContext(model=model))


def test_subsampling_draws_without_replacement_and_the_line_search_uses_every_row(monkeypatch) -> None:
    import forwardkit_gradient_boosting_nn.rule as R

    seen: dict[str, list[int]] = {"fit": [], "distinct": [], "newton": []}
    real_fit, real_newton = R.fit_stage, R.L.newton_step

    def fit(net, x, r, **kw):
        seen["fit"].append(len(x))
        seen["distinct"].append(len(torch.unique(x, dim=0)))
        return real_fit(net, x, r, **kw)

    def newton(loss, Y, r, f, **kw):
        seen["newton"].append(len(f))
        return real_newton(loss, Y, r, f, **kw)

    monkeypatch.setattr(R, "fit_stage", fit)
    monkeypatch.setattr(R.L, "newton_step", newton)
    x, y, _ = _problem("squared", n=41)
    boost(x, y, stages=3, subsample=0.5, stage_max_iter=2)
    # floor(0.5 * 41) = 20 distinct rows per stage fit; the step on all 41
    assert seen == {"fit": [20, 20, 20], "distinct": [20, 20, 20], "newton": [41, 41, 41]}


def test_log_exponential_probabilities_and_merge_in_a_boosted_binary_model() -> None:
    x, y, _ = _problem("binary_logexp", n=60)
    model, ensemble = boost(x, y, stages=6, units_per_stage=2, num_classes=2, eta=1.0, stage_max_iter=15)
    with torch.no_grad():
        F = ensemble.scores(x)  # (N, 1)
        probs = torch.softmax(model(x), 1)[:, 1:]
    assert (probs - torch.sigmoid(2 * F)).abs().max() < 1e-5 and (model(x) - ensemble(x)).abs().max() < 1e-5
    assert float((probs.squeeze(1) > 0.5).long().eq(y).float().mean()) > 0.8
    assert math.isclose(float(model.out.weight[0].detach().abs().max()), 0.0)  # the class-0 logit stays 0
