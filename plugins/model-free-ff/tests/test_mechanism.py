"""The card's tests of the mechanism: overlay, loss, goodness patterns, locality, query counts, resumable state."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
import torch
from forwardkit_model_free_ff.goodness import ff_pairwise_loss, goodness, random_patterns
from forwardkit_model_free_ff.overlay import overlay_labels, wrong_labels
from forwardkit_model_free_ff.rule import ModelFreeFF, contrastive_inputs, train_block

import forwardkit
from forwardkit.interfaces import RunContext

C = 4


def pnn(**kw):
    cfg = {"in_features": 16, "num_classes": C, "hidden": 8, "physics": {"name": "simulated_optical", "out_dim": 8},
           **kw}
    return forwardkit.create("model", "hybrid_pnn", **cfg)


def batch(model, n=8, seed=0):
    return model.example_batch(n, generator=torch.Generator().manual_seed(seed))


# ---- overlay ----------------------------------------------------------------------------------------
def test_positive_and_negative_inputs_differ_only_in_the_label_slots():
    torch.manual_seed(0)
    model = pnn()
    b = batch(model, 64)
    b["x"][0, 5] = -3.0  # max |x| of the batch is 3 (a negative entry)
    pos, neg = contrastive_inputs(model, b, torch.Generator().manual_seed(1))
    assert torch.equal(pos[:, C:], neg[:, C:]) and torch.equal(pos[:, C:], b["x"][:, C:])
    assert torch.equal(pos[:, :C], torch.nn.functional.one_hot(b["y"], C) * 3.0)  # value = max |x| of the batch
    neg_labels = neg[:, :C].argmax(-1)
    assert torch.all(neg_labels != b["y"]) and torch.all((neg[:, :C] > 0).sum(-1) == 1)


def test_negative_labels_are_never_the_true_one_and_cover_every_wrong_class():
    y = torch.randint(0, 7, (5000,), generator=torch.Generator().manual_seed(0))
    neg = wrong_labels(y, 7, torch.Generator().manual_seed(1))
    assert torch.all(neg != y)
    for c in range(7):  # uniform over the 6 wrong classes
        counts = torch.bincount(neg[y == c], minlength=7).float()
        assert counts[c] == 0 and counts.sum() > 0 and (counts[counts > 0].std() / counts[counts > 0].mean()) < 0.25


def test_append_onehot_puts_label_slots_in_front():
    x = torch.rand(3, 5)
    y = torch.tensor([0, 2, 1])
    out = overlay_labels(x, y, 3, mode="append_onehot", value=2.0)
    assert out.shape == (3, 8) and torch.equal(out[:, 3:], x)
    assert torch.equal(out[:, :3], 2.0 * torch.nn.functional.one_hot(y, 3).float())
    model = pnn(label_injection="append_onehot", in_features=3)
    assert model.linears[0].in_features == 8 and model(torch.rand(2, 3)).shape == (2, C)


# ---- loss and goodness ------------------------------------------------------------------------------
def test_the_pairwise_loss_is_log2_at_equal_goodness_falls_with_the_gap_and_alpha_sets_the_slope():
    g = torch.tensor([0.3, -0.2])
    assert math.isclose(float(ff_pairwise_loss(g, g, 4.0)), math.log(2.0), rel_tol=1e-6)
    gaps = torch.linspace(-2, 2, 41)
    losses = [float(ff_pairwise_loss(d.reshape(1), torch.zeros(1), 4.0)) for d in gaps]
    assert all(a > b for a, b in itertools.pairwise(losses))  # strictly decreasing in g_pos - g_neg
    for alpha in (1.0, 4.0, 5.0):  # slope at equal goodness: -alpha / 2
        d = torch.zeros(1, requires_grad=True)
        ff_pairwise_loss(d, torch.zeros(1), alpha).backward()
        assert d.grad is not None and math.isclose(float(d.grad), -alpha / 2, rel_tol=1e-6)


def test_goodness_kinds():
    a = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    p = torch.tensor([0.6, 0.8])
    assert torch.allclose(goodness(a, p), torch.tensor([1.0, 0.6]))
    assert torch.allclose(goodness(a, None, "sum_squares"), torch.tensor([25.0, 1.0]))
    assert torch.allclose(goodness(10 * a, p), goodness(a, p))  # cosine goodness is scale-invariant


def test_goodness_patterns_are_unit_fixed_saved_and_matter():
    torch.manual_seed(0)
    model = pnn()
    pats = [model.pattern(k) for k in range(model.num_blocks)]
    assert all(torch.isclose(p.norm(), torch.tensor(1.0)) for p in pats)
    assert all(torch.equal(p, q) for p, q in zip(pats, random_patterns([8, 8], 0), strict=True))  # fixed by seed
    state = model.state_dict()
    assert {"pattern0", "pattern1"} <= set(state)  # buffers: saved in every checkpoint with the weights
    rule, ctx = ModelFreeFF(inner_steps=2), RunContext(model=model)
    rule.setup(model, ctx)
    rule.step(batch(model, 16), ctx)
    assert all(torch.equal(model.pattern(k), pats[k]) for k in range(2))  # training leaves them alone
    x = batch(model, 200, 3)["x"]
    scores = model(x)
    torch.manual_seed(0)
    other = pnn(pattern_seed=1)
    other.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("pattern")},
                          strict=False)
    assert not torch.allclose(other(x), scores)  # redrawn patterns: another prediction
    assert (other(x).argmax(-1) != scores.argmax(-1)).any()
    restored = pnn(pattern_seed=1)
    restored.load_state_dict(model.state_dict())
    assert torch.equal(restored(x), scores)  # the checkpoint's patterns win over the config's seed


# ---- locality and schedule --------------------------------------------------------------------------
def test_a_step_of_block_k_changes_only_w_k():
    torch.manual_seed(0)
    model = pnn(num_blocks=3)
    pos, neg = contrastive_inputs(model, batch(model), torch.Generator().manual_seed(0))
    z = model.physics[0](torch.cat([pos, neg]))
    h = model.next_input(*model.digital(0, z))
    z1 = model.physics[1](h)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.Adam(model.linears[1].parameters(), lr=1e-2)
    losses = train_block(model, 1, z1[:8], z1[8:], opt, alpha=4.0, inner_steps=3)
    assert len(losses) == 3
    for name, p in model.named_parameters():
        if name.startswith("linears.1."):
            assert not torch.equal(p, before[name]), name
        else:
            assert torch.equal(p, before[name]), name  # bit-identical
    # the block's loss reaches no other block: its gradient graph holds W_k only
    loss = ff_pairwise_loss(*(model.block_goodness(1, model.digital(1, z)[1]) for z in (z1[:8], z1[8:])))
    grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
    named = dict(zip([n for n, _ in model.named_parameters()], grads, strict=True))
    assert all((g is not None) == n.startswith("linears.1.") for n, g in named.items())


def test_the_rule_trains_every_block_on_the_updated_outputs_of_the_one_below():
    torch.manual_seed(0)
    model = pnn()
    rule, ctx = ModelFreeFF(inner_steps=4, lr=1e-2), RunContext(model=model)
    rule.setup(model, ctx)
    b = batch(model, 32)
    first = [rule.step(b, ctx)["loss_b1"] for _ in range(30)]
    assert first[-1] < first[0]  # the local loss falls
    assert all(opt is not None and len(opt.state) == 2 for opt in rule.optimizers)  # one Adam per block


# ---- query counts -----------------------------------------------------------------------------------
def test_prediction_runs_exactly_c_times_k_physical_evaluations_per_sample():
    torch.manual_seed(0)
    model = pnn(num_blocks=3)
    model.eval()
    with torch.no_grad():
        model(batch(model, 5)["x"])
    assert [int(box.queries) for box in model.physics] == [C * 5] * 3 and model.queries() == C * 3 * 5


def test_training_runs_two_k_physical_evaluations_per_sample_per_batch():
    torch.manual_seed(0)
    model = pnn(num_blocks=3)
    rule, ctx = ModelFreeFF(inner_steps=5), RunContext(model=model)
    rule.setup(model, ctx)
    metrics = rule.step(batch(model, 6), ctx)
    assert model.queries() == 2 * 3 * 6 == metrics["physical_queries"]  # inner steps reuse the measurements


# ---- options ------------------------------------------------------------------------------------------
def test_a_numeric_overlay_value_makes_predictions_batch_independent():
    torch.manual_seed(0)
    model = pnn(overlay_value=1.0).eval()
    x = batch(model, 6)["x"]
    alone = torch.cat([model(x[i : i + 1]) for i in range(6)])
    assert torch.allclose(alone, model(x), atol=1e-6)


@pytest.mark.parametrize("fields", [{"skip_concat": True, "normalize_input": "l2_abs"}, {"activation": "gelu"},
                                    {"goodness": "sum_squares", "pass_activation": True}])
def test_model_options_build_and_train(fields):
    torch.manual_seed(0)
    model = pnn(**fields)
    if fields.get("skip_concat"):
        assert model.linears[1].in_features == 8 + 8  # 8 measured + 8 skipped
    rule, ctx = ModelFreeFF(inner_steps=2), RunContext(model=model)
    rule.setup(model, ctx)
    metrics = rule.step(batch(model), ctx)
    assert math.isfinite(metrics["loss"]) and model(batch(model)["x"]).shape == (8, C)


def test_physics_seeds_follow_the_experiment_seed_and_are_shared_with_the_readout():
    torch.manual_seed(5)
    a = pnn(in_features=16)
    torch.manual_seed(5)
    r = forwardkit.create("model", "physical_readout", in_features=16, num_classes=C,
                          physics={"name": "simulated_optical", "out_dim": 8})
    torch.manual_seed(6)
    b = pnn(in_features=16)
    assert torch.equal(a.physics[0].hardware.weight, r.physics.hardware.weight)
    assert not torch.equal(a.physics[0].hardware.weight, b.physics[0].hardware.weight)
    fixed = [pnn(physics_seed=9).physics[1].hardware.weight for _ in range(2)]
    assert torch.equal(*fixed)


def test_the_rule_refuses_other_models():
    from forwardkit.errors import ForwardkitError

    with pytest.raises(ForwardkitError, match="hybrid_pnn"):
        ModelFreeFF().setup(torch.nn.Linear(2, 2), RunContext(model=torch.nn.Linear(2, 2)))


def test_resumable_state_holds_the_optimizers_the_generator_and_the_physics():
    torch.manual_seed(0)
    model = pnn(physics={"name": "simulated_optical", "out_dim": 8, "noise_std": 0.01})
    rule, ctx = ModelFreeFF(inner_steps=2), RunContext(model=model)
    rule.setup(model, ctx)
    rule.step(batch(model), ctx)
    state = rule.state_dict()
    assert len(state["optimizers"]) == 2 and isinstance(state["generator"], torch.Tensor)
    keys = set(model.state_dict())
    for k in range(2):  # transmission matrix (and its drift), noise call count, query counter, pattern
        assert {f"physics.{k}.box.weight", f"physics.{k}.box.calls", f"physics.{k}.queries", f"pattern{k}"} <= keys
    # (the trainer-level exact resume, noise and drift included, is the conformance kit's check_resume)


def test_the_kits_resume_check_cuts_after_drift_with_noise_patterns_and_adam_state():
    """The card's "resume from checkpoint (W_k, Adam states, p_k, RNG, physics seed/drift state) reproduces the
    uninterrupted run" is the conformance kit's ``check_resume`` on ``physics_drift`` (rule ``model_free_ff``) and on
    ``model_free_ff``: bit-identical weights and state after a cut at step ``INTERRUPT_AT``. This keeps that check
    meaningful: in the kit's experiment, by the cut, the physics has drifted, the detection noise has been drawn,
    every block's Adam has moments and the negative-label generator has moved."""
    from forwardkit_model_free_ff.drift import PhysicsDrift
    from forwardkit_model_free_ff.rule import SMALL_EXPERIMENT

    from forwardkit.engine.trainer import Trainer
    from forwardkit.testing.checks.resume import INTERRUPT_AT, default_experiment

    exp = default_experiment()
    for key, value in PhysicsDrift.conformance_experiment.items():
        exp[key] = {**exp[key], **value} if key == "trainer" else value
    exp["callbacks"] = [{"name": "physics_drift", **PhysicsDrift.conformance_configs[0]}]
    assert exp["model"]["physics"]["noise_std"] > 0 and exp["model"] == SMALL_EXPERIMENT["model"]
    exp["trainer"].update(max_steps=INTERRUPT_AT, checkpoint_every=0)
    trainer = Trainer(exp, write=False, verbose=False)
    trainer.build()
    model: Any = trainer.model
    start = [box.hardware.weight.clone() for box in model.physics]
    trainer.fit()
    rule: Any = trainer.rule
    assert trainer.ctx.step == INTERRUPT_AT and trainer.ctx.steps_per_epoch < INTERRUPT_AT  # the cut: epoch 2
    assert trainer.callbacks[0].state_dict() == {"done": True}  # drifted at the end of epoch 1, before the cut
    assert all(not torch.equal(a, box.hardware.weight) for a, box in zip(start, model.physics, strict=True))
    assert all(int(box.hardware.calls) > 0 for box in model.physics)  # noise drawn: its call count is state
    assert all(len(opt.state) == 2 for opt in rule.optimizers)
    assert not torch.equal(rule.generator.get_state(), torch.Generator().manual_seed(rule.config.seed).get_state())


def test_the_acoustic_preset_has_the_official_codes_layer_shapes():
    """Parity with MomeniAli/PhyLL Acoustic/acoustics_pnn.py: ``FNet([40, 20, 40, 20])`` on 20-wide inputs (12 vowel
    features after 8 zero label slots, 7 classes), a 20-output physical system that sees ``|h| / ||h||`` and a skip
    ``concat([Phys(h), h])``: two ``Linear(40, 20)`` with bias (820 parameters each) and 20-wide goodness patterns."""
    torch.manual_seed(0)
    model = forwardkit.create("model", "hybrid_pnn", in_features=20, num_classes=7, skip_concat=True,
                              normalize_input="l2_abs", physics={"name": "simulated_optical", "out_dim": 20})
    shapes = [(lin.in_features, lin.out_features, lin.bias is not None) for lin in model.linears]
    assert shapes == [(40, 20, True), (40, 20, True)]
    assert sum(p.numel() for p in model.parameters()) == 2 * 820
    assert [model.pattern(k).shape for k in range(2)] == [(20,), (20,)]
    assert model.box(0).config.normalize_input == "l2_abs" and model.box(0).config.skip_concat
