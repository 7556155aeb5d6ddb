"""The gradient reversal layer and the domain head (card: GRL identity forward, -lambda gradient, lambda = 0
blocks the adversarial signal; the domain head gets the un-reversed gradient); the tap and the one-pass forward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from forwardkit_dann.grl import GradientReversal, grad_reverse
from forwardkit_dann.head import (
    SMALL_CNN,
    DomainAdversarialNet,
    DomainAdversarialOutput,
    attach_domain_head,
    resolve_tap,
    tap_features,
)
from forwardkit_dann.rule import domain_loss

import forwardkit
from forwardkit.errors import ForwardkitError


def _net(seed: int = 0, **head: object) -> DomainAdversarialNet:
    torch.manual_seed(seed)
    return attach_domain_head(forwardkit.build_model(SMALL_CNN), tap="features", **head)  # type: ignore[arg-type]


def _batch(n: int = 6, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.rand(n, 16, 16, 3, generator=g), "y": torch.randint(0, 4, (n,), generator=g),
            "target_x": torch.rand(n, 16, 16, 3, generator=g)}


@pytest.mark.parametrize("lam", [0.0, 0.37, 1.0, 2.5])
def test_grl_is_the_identity_forward_and_minus_lambda_backward(lam):
    x = torch.randn(3, 4, 5, requires_grad=True)
    y = grad_reverse(x, lam)
    assert torch.equal(y, x)
    g = torch.randn(3, 4, 5)
    (grad,) = torch.autograd.grad(y, x, g)
    assert torch.equal(grad, g * (-lam))
    layer = GradientReversal(dim=5, lambda_=1.0)
    layer.lambda_ = lam  # the rule sets it each step
    (grad2,) = torch.autograd.grad(layer(x), x, g)
    assert torch.equal(grad2, grad)
    assert torch.equal(layer(x), x) and not list(layer.parameters())


def _grads(net: torch.nn.Module, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    params = {n: p for n, p in net.named_parameters()}
    grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
    return {n: (g if g is not None else torch.zeros_like(p)) for (n, p), g in zip(params.items(), grads, strict=True)}


def test_lambda_zero_leaves_the_source_only_gradient_on_the_features():
    net, batch = _net(), _batch()
    net.set_lambda(0.0)
    out = net.forward_batch(batch)
    label = F.cross_entropy(out.logits, batch["y"])
    full = _grads(net, label + domain_loss(out.domain_logits, 6)[0])
    net2 = _net()  # the same weights: a source-only forward of the source rows alone
    source_only = _grads(net2, F.cross_entropy(net2(batch["x"]), batch["y"]))
    for name, g in source_only.items():
        if name.startswith("backbone."):
            torch.testing.assert_close(full[name], g, rtol=1e-5, atol=1e-7)
    net.set_lambda(1.0)  # and lambda > 0 does change them
    out = net.forward_batch(batch)
    adv = _grads(net, F.cross_entropy(out.logits, batch["y"]) + domain_loss(out.domain_logits, 6)[0])
    assert not torch.allclose(adv["backbone.features.0.weight"], source_only["backbone.features.0.weight"])


@pytest.mark.parametrize("lam", [0.5, 1.0])
def test_the_domain_head_gets_the_unreversed_gradient_and_the_features_minus_lambda(lam):
    net, batch = _net(), _batch()
    net.set_lambda(lam)
    with_grl = _grads(net, domain_loss(net.forward_batch(batch).domain_logits, 6)[0])
    # the same model without the GRL: the domain MLP applied to the tap directly
    _, f = tap_features(net.backbone, "features", torch.cat([batch["x"], batch["target_x"]]))
    plain = _grads(net, domain_loss(net.domain_head.mlp(f).squeeze(-1), 6)[0])
    head = [n for n in plain if n.startswith("domain_head.")]
    features = [n for n in plain if n.startswith("backbone.features.")]
    assert head and features
    for name in head:  # same sign and magnitude
        torch.testing.assert_close(with_grl[name], plain[name], rtol=1e-6, atol=1e-8)
        assert plain[name].abs().sum() > 0
    for name in features:  # reversed and scaled
        torch.testing.assert_close(with_grl[name], -lam * plain[name], rtol=1e-5, atol=1e-8)
    for name in plain:  # the label predictor takes no part in the domain loss
        if name.startswith("backbone.classifier."):
            assert not with_grl[name].any()


def test_one_forward_pass_of_both_domains_and_the_plain_forward_is_the_backbones():
    net, batch = _net(), _batch(n=5)
    calls: list[int] = []
    handle = net.backbone.features.register_forward_hook(lambda m, i, o: calls.append(o.shape[0]))
    out = net.forward_batch(batch)
    handle.remove()
    assert isinstance(out, DomainAdversarialOutput) and calls == [10]  # one pass of concat(source, target)
    assert out.logits.shape == (5, 4) and out.target_logits.shape == (5, 4)
    assert out.domain_logits.shape == (10,) and out.features.shape == (10, 8)
    torch.testing.assert_close(out.logits, net.backbone(batch["x"]), rtol=1e-5, atol=1e-6)
    assert torch.equal(net(batch["x"]), net.backbone(batch["x"]))
    plain = net.forward_batch({"x": batch["x"], "y": batch["y"]})  # evaluation batches: the backbone's logits
    assert isinstance(plain, torch.Tensor) and torch.equal(plain, net.backbone(batch["x"]))


def test_the_adapter_copies_measures_the_tap_and_keeps_the_call_signature():
    torch.manual_seed(0)
    cnn = forwardkit.build_model({"name": "dann_mnist_cnn"})
    assert cnn.feature_dim == 768  # Fig. 4a: 48 x 4 x 4 for 28 x 28 inputs
    new = forwardkit.create("adapter", "domain_adversarial_head").apply(cnn)
    assert new is not cnn and new.backbone is not cnn
    assert new.domain_head.mlp[0].in_features == 768 and new.domain_head.mlp[0].out_features == 100
    assert new.domain_head.mlp[-1].out_features == 1  # FC100-ReLU-FC1
    x = torch.rand(2, 28, 28, 3)
    assert torch.equal(new(x), cnn(x))
    assert set(new.example_batch(3)) == {"x", "y", "target_x"}


def test_taps_resolve_by_name_or_unique_suffix_and_say_what_exists():
    net = _net()
    assert resolve_tap(net, "features")[0] == "backbone.features"
    assert resolve_tap(net, "backbone.features.3")[0] == "backbone.features.3"
    with pytest.raises(ForwardkitError, match=r"no module 'nope'.*backbone\.features"):
        resolve_tap(net, "nope")
    with pytest.raises(ForwardkitError, match="several modules"):
        resolve_tap(net, "0")
    head = attach_domain_head(forwardkit.build_model(SMALL_CNN), tap="features.2", hidden=[])  # an earlier tap
    assert head.domain_head.mlp[0].in_features == 4 * 6 * 6


def test_a_tap_may_be_a_callable_that_picks_the_module():
    cnn = forwardkit.build_model(SMALL_CNN)
    net = attach_domain_head(cnn, tap=lambda m: m.features[2], hidden=[])
    assert net.tap == "features.2" and net.domain_head.mlp[0].in_features == 4 * 6 * 6
    with pytest.raises(ForwardkitError, match="not a module"):
        attach_domain_head(forwardkit.build_model(SMALL_CNN), tap=lambda m: torch.nn.ReLU())


def test_fig_4a_parameter_counts():
    """Fig. 4a written out: conv5x5 3->32, conv5x5 32->48, FC 768-100-100-10; domain head FC 768-100-1."""
    torch.manual_seed(0)
    cnn = forwardkit.build_model({"name": "dann_mnist_cnn"})
    net = forwardkit.create("adapter", "domain_adversarial_head").apply(cnn)

    def count(m: torch.nn.Module) -> int:
        return sum(p.numel() for p in m.parameters())

    features = (3 * 25 * 32 + 32) + (32 * 25 * 48 + 48)
    classifier = (768 * 100 + 100) + (100 * 100 + 100) + (100 * 10 + 10)
    domain = (768 * 100 + 100) + (100 + 1)
    assert count(net.backbone.features) == features == 40_880
    assert count(net.backbone.classifier) == classifier == 88_010
    assert count(net.domain_head) == domain == 77_001
