"""GuidanceRule: the guide stays frozen, the alignment gradient, alpha = 0, stop_after_steps, reproducible guides."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from forwardkit_guidance.config import GuideConfig
from forwardkit_guidance.guide import build_guide
from forwardkit_guidance.mapping import map_pairs
from forwardkit_guidance.rule import alignment_loss, noise_like
from forwardkit_guidance.taps import extract_taps

import forwardkit
from forwardkit.interfaces import RunContext

DATA = {"name": "blobs", "n_samples": 160, "image_size": 8, "image_channels": 1, "num_classes": 4,
        "clusters_per_class": 2}
CNN_GUIDE = {"model": {"name": "guidance_cnn", "in_channels": 1, "num_classes": 4, "widths": [4, 6, 8],
                       "pool_size": 2}, "seed": 3}
#: a guide with BatchNorm and dropout: eval mode must freeze both
BN_GUIDE = {"model": {"name": "mlp", "in_features": 64, "hidden": [12, 12, 12], "num_classes": 4,
                      "norm": "batchnorm", "dropout": 0.5}, "seed": 4}


def target(seed: int = 0) -> Any:
    torch.manual_seed(seed)
    return forwardkit.create("model", "mlp", in_features=64, hidden=[16, 16, 16, 16], num_classes=4)


def batch(seed: int, n: int = 16) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.rand(n, 8, 8, 1, generator=g), "y": torch.randint(0, 4, (n,), generator=g)}


def ce(output: torch.Tensor, b: Any) -> torch.Tensor:
    return F.cross_entropy(output, b["y"])


def rule_and_ctx(model: Any, **fields: Any) -> tuple[Any, RunContext]:
    rule = forwardkit.create("learning_rule", "guidance", **fields)
    ctx = RunContext(model=model, loss_fn=ce, steps_per_epoch=4, total_steps=8)
    rule.setup(model, ctx)
    return rule, ctx


def run(rule: dict[str, Any], epochs: int = 2) -> Any:
    exp = {"data": DATA, "model": {"name": "mlp", "hidden": [16, 16, 16], "dropout": 0.1}, "learning_rule": rule,
           "trainer": {"epochs": epochs, "batch_size": 32, "progress": "none", "plots": False, "eval_every": 0,
                       "checkpoint_every": 0}, "seed": 11}
    return forwardkit.run(exp, write=False, verbose=False)


def test_the_guide_receives_no_gradient_never_changes_and_runs_in_eval_mode():
    model = target()
    rule, ctx = rule_and_ctx(model, guide=BN_GUIDE)
    rule.step(batch(0), ctx)
    guide = rule.guide
    before = copy.deepcopy(guide.state_dict())  # weights and BatchNorm running statistics
    for i in range(1, 4):
        metrics = rule.step(batch(i), ctx)
        ctx.step += 1
    assert metrics["guiding"] == 1.0 and metrics["align_loss"] > 0
    assert not guide.training and all(not p.requires_grad and p.grad is None for p in guide.parameters())
    after = guide.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # dropout off, BatchNorm on running statistics: the guide's taps of a batch do not depend on the batch's
    # other samples nor on a draw
    full = rule.guide_taps(batch(9), torch.device("cpu"))
    half = rule.guide_taps({k: v[:8] for k, v in batch(9).items()}, torch.device("cpu"))
    assert all(torch.allclose(full[k][:8], half[k], atol=1e-6) for k in half)


def test_the_alignment_gradient_reaches_mapped_target_layers_only():
    model = target()
    b = batch(1)
    taps = extract_taps(model, b, grad=True)  # net.0, net.2, net.4, net.6 (S = 4)
    guide, _ = build_guide(GuideConfig.model_validate({"model": {"name": "mlp", "in_features": 64, "hidden": [8],
                                                                    "num_classes": 4}}))
    g_taps = extract_taps(guide, b)  # one tap (G = 1): maps to target tap 0
    leaves = {k: v.detach().requires_grad_() for k, v in taps.items()}
    pairs = map_pairs(list(g_taps), list(leaves))
    assert pairs == [("net.0", "net.0")]
    loss, _ = alignment_loss(leaves, g_taps, pairs)
    loss.backward()
    assert leaves["net.0"].grad is not None and leaves["net.0"].grad.abs().sum() > 0
    assert all(leaves[k].grad is None for k in ("net.2", "net.4", "net.6"))
    # through the network: the first layer learns from it, the layers above the mapped one get nothing
    model.zero_grad()
    alignment_loss(extract_taps(model, b, grad=True), g_taps, pairs)[0].backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert grads["net.0.weight"].abs().sum() > 0
    assert all(grads[n] is None or grads[n].abs().sum() == 0 for n in grads if not n.startswith("net.0."))


def test_alpha_zero_is_plain_training_bit_for_bit():
    plain = run({"name": "backprop", "optimizer": "adam", "lr": 1e-3}).model.state_dict()
    zero = run({"name": "guidance", "guide": CNN_GUIDE, "alpha": 0.0}).model.state_dict()
    guided = run({"name": "guidance", "guide": CNN_GUIDE, "alpha": 1.0}).model.state_dict()
    assert all(torch.equal(plain[k], zero[k]) for k in plain)
    assert not all(torch.equal(plain[k], guided[k]) for k in plain)  # the check can fail: guidance changes weights


def test_from_stop_after_steps_on_the_loss_is_the_task_loss_alone():
    model = target()
    rule, ctx = rule_and_ctx(model, guide=CNN_GUIDE, stop_after_steps=2)
    seen = [rule.step(batch(i), ctx) for i in range(2)]
    assert [m["guiding"] for m in seen] == [1.0, 1.0] and all(m["align_loss"] > 0 for m in seen)
    # step 2 of the rule against the wrapped backprop alone, from the same weights and optimizer state
    twin_model = copy.deepcopy(model)
    twin_ctx = RunContext(model=twin_model, loss_fn=ce, steps_per_epoch=4, total_steps=8)
    twin_inner = rule.config.rule.build()
    twin_inner.setup(twin_model, twin_ctx)
    twin_inner.load_state_dict(copy.deepcopy(rule.inner.state_dict()))
    for i in (2, 3):
        metrics = rule.step(batch(i), ctx)
        twin = twin_inner.step(batch(i), twin_ctx)
        assert metrics["guiding"] == 0.0 and metrics["align_loss"] == 0.0 and metrics["loss"] == twin["loss"]
    a, b = model.state_dict(), twin_model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_untrained_guide_rebuilds_identically_from_its_saved_seed():
    model = target()
    rule, ctx = rule_and_ctx(model, guide=CNN_GUIDE)
    rule.step(batch(0), ctx)
    seed = rule.state_dict()["guide"]["seed"]
    rebuilt, _ = build_guide(GuideConfig.model_validate({**CNN_GUIDE, "seed": seed}))
    probe = batch(5)
    mine, again = rule.guide_taps(probe, torch.device("cpu")), extract_taps(rebuilt, probe)
    assert list(mine) == ["conv1", "conv2", "conv3", "pool2"]  # G = 4 (the fc logits dropped)
    assert all(torch.equal(mine[k], again[k]) for k in mine)
    other, _ = build_guide(GuideConfig.model_validate({**CNN_GUIDE, "seed": seed + 1}))
    assert not torch.equal(extract_taps(other, probe)["conv1"], mine["conv1"])


def test_building_a_guide_leaves_the_global_random_state_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    build_guide(GuideConfig.model_validate(CNN_GUIDE))
    build_guide(GuideConfig.model_validate({**CNN_GUIDE, "trained": True, "data": DATA, "max_steps": 2}))
    assert torch.equal(torch.rand(3), expected)


def test_a_trained_guide_is_trained_deterministically_and_its_weights_are_saved():
    cfg = GuideConfig.model_validate({**CNN_GUIDE, "trained": True, "data": DATA, "max_steps": 3})
    (a, report), (b, _) = build_guide(cfg), build_guide(cfg)
    untrained, _ = build_guide(GuideConfig.model_validate(CNN_GUIDE))
    assert "val/accuracy" in report
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not torch.equal(a.conv1.weight, untrained.conv1.weight)
    rule, ctx = rule_and_ctx(target(), guide=cfg.model_dump(mode="json"))
    rule.step(batch(0), ctx)
    state = rule.state_dict()
    fresh, _ = rule_and_ctx(target(1), guide=cfg.model_dump(mode="json"))
    fresh.load_state_dict(state)
    loaded = fresh.ensure_guide(torch.device("cpu"))  # the saved weights, not a new training run
    assert all(torch.equal(loaded.state_dict()[k], a.state_dict()[k]) for k in a.state_dict())


def test_noise_guide_input_rsa_explicit_and_sum_variants_run():
    g = torch.Generator().manual_seed(0)
    noise = noise_like(torch.zeros(4, 8, 8, 1), g)
    assert noise.shape == (4, 8, 8, 1) and 0 <= float(noise.min()) and float(noise.max()) <= 1
    ids = noise_like(torch.tensor([[0, 3], [2, 1]]), g)
    assert ids.dtype == torch.long and int(ids.max()) <= 3
    for fields in ({"guide_input": "noise"}, {"metric": "rsa"}, {"dedupe": "sum"},
                   {"mapping": "explicit", "pairs": {"conv3": "net.2"}}):
        rule, ctx = rule_and_ctx(target(), guide=CNN_GUIDE, **fields)
        metrics = rule.step(batch(0), ctx)
        assert metrics["align_loss"] > 0, fields
        if "pairs" in fields:
            assert metrics["pairs"] == 1.0
    rule, ctx = rule_and_ctx(target(), guide=CNN_GUIDE, guide_input="noise")
    rule.step(batch(0), ctx)
    before = rule.state_dict()["noise"]
    rule.step(batch(1), ctx)
    assert not torch.equal(before, rule.state_dict()["noise"])  # the noise stream advances and is saved


def test_config_errors_are_clear():
    with pytest.raises(Exception, match="needs `pairs`"):
        forwardkit.create("learning_rule", "guidance", mapping="explicit")
    with pytest.raises(Exception, match="needs `data`"):
        forwardkit.create("learning_rule", "guidance", guide={"trained": True})
    with pytest.raises(Exception, match="cannot be guidance"):
        forwardkit.create("learning_rule", "guidance", rule={"name": "guidance"})
