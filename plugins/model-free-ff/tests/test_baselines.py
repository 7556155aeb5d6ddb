"""The baselines (in-silico backprop, physics-aware training) and the drift callback."""

from __future__ import annotations

import math

import pytest
import torch
from forwardkit_model_free_ff.baselines import InSilicoBP, PhysicsAwareTraining, pairwise_objective
from forwardkit_model_free_ff.drift import PhysicsDrift, drift_physics
from forwardkit_model_free_ff.optics import optical_response_numpy
from forwardkit_model_free_ff.rule import contrastive_inputs

import forwardkit
from forwardkit.interfaces import RunContext
from forwardkit.testing import toys

C = 4


def pnn(**kw):
    torch.manual_seed(0)
    cfg = {"in_features": 16, "num_classes": C, "hidden": 8, "physics": {"name": "simulated_optical", "out_dim": 8},
           **kw}
    return forwardkit.create("model", "hybrid_pnn", **cfg)


def batch(model, n=16, seed=0):
    return model.example_batch(n, generator=torch.Generator().manual_seed(seed))


def _grad_of_first_linear(model, surrogates):
    pos, neg = contrastive_inputs(model, batch(model), torch.Generator().manual_seed(0))
    with model.backward_through(surrogates):
        loss, _ = pairwise_objective(model, pos, neg, 4.0)
    # only block 2's loss, through block 2's physics, into W_1
    b = pos.shape[0]
    with model.backward_through(surrogates):
        g2 = model.goodness_per_block(torch.cat([pos, neg]))[1]
    from forwardkit_model_free_ff.goodness import ff_pairwise_loss

    (grad,) = torch.autograd.grad(ff_pairwise_loss(g2[:b], g2[b:]), [model.linears[0].weight], allow_unused=True)
    return loss, grad


def test_insilico_bp_backpropagates_through_the_simulated_physics_and_ff_does_not():
    model = pnn()
    _, exact = _grad_of_first_linear(model, "exact")
    assert exact is not None and exact.abs().sum() > 0  # block 2's loss reaches W_1 through Phys_2
    _, none = _grad_of_first_linear(model, [None, None])
    assert none is None  # the black box: no path at all


def test_insilico_bp_gradient_matches_finite_differences():
    model = pnn()
    model.double()
    pos, neg = (t.double() for t in contrastive_inputs(model, batch(model), torch.Generator().manual_seed(0)))
    w = model.linears[0].weight

    def f() -> torch.Tensor:
        with model.backward_through("exact"):
            return pairwise_objective(model, pos, neg, 4.0)[0]

    (g,) = torch.autograd.grad(f(), [w])
    eps, i, j = 1e-6, 2, 3
    with torch.no_grad():
        w[i, j] += eps
        up = f()
        w[i, j] -= 2 * eps
        down = f()
        w[i, j] += eps
    assert math.isclose(float(g[i, j]), float((up - down) / (2 * eps)), rel_tol=1e-4, abs_tol=1e-8)


@pytest.mark.parametrize("objective", ["ff_pairwise", "cross_entropy"])
def test_insilico_bp_trains_with_either_objective(objective):
    model = pnn()
    rule, ctx = InSilicoBP(objective=objective, inner_steps=3, lr=1e-2), RunContext(model=model,
                                                                                   loss_fn=toys.default_loss)
    rule.setup(model, ctx)
    b = batch(model, 32)
    losses = [rule.step(b, ctx)["loss"] for _ in range(5)]
    assert losses[-1] < losses[0]
    assert model.queries() > 0


def test_insilico_bp_refuses_a_real_black_box():
    model = pnn()
    weight = model.physics[1].hardware.weight.numpy().copy()
    model.replace_physics(1, lambda x: optical_response_numpy(x, weight), interface="numpy")
    rule, ctx = InSilicoBP(), RunContext(model=model)
    rule.setup(model, ctx)
    with pytest.raises(RuntimeError, match="differentiable torch simulator"):
        rule.step(batch(model), ctx)


def test_pat_fits_twins_once_from_probes_and_trains_a_real_black_box():
    model = pnn()
    weight = model.physics[1].hardware.weight.numpy().copy()
    model.replace_physics(1, lambda x: optical_response_numpy(x, weight), interface="numpy")  # no autograd here
    rule = PhysicsAwareTraining(inner_steps=2, n_probe=300, twin_hidden=32, twin_steps=200, lr=1e-2)
    ctx = RunContext(model=model)
    rule.setup(model, ctx)
    assert rule.twins[0] is None and rule.twins[1] is not None  # block 1's input is data: nothing to twin
    b = batch(model, 32)
    first = rule.step(b, ctx)
    assert int(model.physics[1].queries) == 300 + 2 * 32 * 2  # the probes, then 2 streams x 2 inner steps
    assert 0.0 <= first["twin_error_b2"] < 0.5  # the twin explains most of the measured variance
    before = model.linears[0].weight.detach().clone()
    second = rule.step(b, ctx)
    assert "twin_error_b2" not in second  # refit_every 0: never again (a twin that goes stale)
    assert not torch.equal(before, model.linears[0].weight)
    state = rule.state_dict()
    assert state["fitted_epoch"] == 0 and state["twins"][0] is None and "mlp.0.weight" in state["twins"][1]


def test_the_pat_gradient_is_the_twins():
    model = pnn()
    rule = PhysicsAwareTraining(n_probe=64, twin_hidden=8, twin_steps=2)
    rule.setup(model, RunContext(model=model))
    _, via_twin = _grad_of_first_linear(model, rule.surrogates(model))
    _, exact = _grad_of_first_linear(model, "exact")
    assert via_twin is not None and not torch.allclose(via_twin, exact)  # a barely fitted twin: another gradient


def test_drift_perturbs_every_layer_once_at_its_epoch():
    model = pnn()
    before = [box.hardware.weight.clone() for box in model.physics]
    cb = PhysicsDrift(at_epoch=2, strength=0.3)
    ctx = RunContext(model=model)
    ctx.epoch = 0
    assert cb.on_epoch_end(ctx) is False and all(torch.equal(b, box.hardware.weight)
                                                 for b, box in zip(before, model.physics, strict=True))
    ctx.epoch = 1
    cb.on_epoch_end(ctx)
    after = [box.hardware.weight.clone() for box in model.physics]
    for b, a in zip(before, after, strict=True):
        rel = float((a - b).norm() / b.norm())
        assert 0.2 < rel < 0.4  # A' = A + 0.3 A_fresh with A_fresh distributed like A
    ctx.epoch = 2
    cb.on_epoch_end(ctx)
    assert all(torch.equal(a, box.hardware.weight) for a, box in zip(after, model.physics, strict=True))
    assert cb.state_dict() == {"done": True}
    with pytest.raises(forwardkit.errors.ForwardkitError, match="drift_"):
        model.replace_physics(0, lambda x: x)
        drift_physics(model, 0.3, 0)
