"""The expandable CNN: function-preserving growth, shapes and parameter counts, the architecture record."""

from __future__ import annotations

import pytest
import torch
from forwardkit_self_expanding_cnn.model import ExpandableCNN, build_snapshot

import forwardkit


def _model(**kw) -> ExpandableCNN:
    torch.manual_seed(0)
    cfg = {"channels": [1, 4, 4, 4], "input_size": [12, 12], "num_classes": 5, "head_channels": 3, **kw}
    model = ExpandableCNN(**cfg)
    for m in model.modules():  # non-trivial BatchNorm statistics, so eval mode tests them
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def _x(n: int = 6) -> torch.Tensor:
    return torch.randn(n, 12, 12, 1, generator=torch.Generator().manual_seed(1))


@torch.no_grad()
@pytest.mark.parametrize("kind", ["conv1x1", "conv3x3"])
def test_an_identity_layer_with_no_noise_leaves_the_outputs_unchanged(kind: str) -> None:
    model = _model(identity_noise=0.0, identity_kind=kind)
    x = _x()
    before = model(x)
    for b in range(3):
        model.add_identity_layer(b)
        assert torch.allclose(model(x), before, atol=1e-6, rtol=0)
    model.train()  # no BatchNorm in the new layer and a slope starting at 1: exact in train mode too
    torch.manual_seed(3)
    grown_train = model(x)
    fresh = _model(identity_noise=0.0, identity_kind=kind).train()
    torch.manual_seed(3)
    assert torch.allclose(grown_train, fresh(x), atol=1e-6, rtol=0)


@torch.no_grad()
def test_widening_with_no_noise_leaves_the_outputs_unchanged() -> None:
    model = _model(new_channel_noise=0.0, identity_noise=0.0)
    x = _x()
    before = model(x)
    model.add_identity_layer(0)
    for b, c in [(0, 2), (1, 3), (2, 2), (0, 4)]:  # block 0 feeds the skip conv, block 2 the head
        model.widen_block(b, c)
        assert torch.allclose(model(x), before, atol=1e-6, rtol=0)
    assert model.channels() == [1, 10, 7, 6]


@torch.no_grad()
def test_the_default_noise_changes_the_outputs_by_less_than_1e_3_relative() -> None:
    model = _model()
    x = _x()
    before = model(x)
    model.add_identity_layer(1)
    model.widen_block(0, 2)
    model.widen_block(2, 2)
    change = float((model(x) - before).abs().max() / before.abs().max())
    assert 0 < change < 1e-3


@torch.no_grad()
def test_the_fixed_slope_and_random_init_are_not_function_preserving() -> None:
    x = _x()
    fixed = _model(identity_noise=0.0, identity_slope="fixed")
    before = fixed(x)
    fixed.add_identity_layer(0)  # a LeakyReLU after a LeakyReLU: negatives scaled by slope^2
    assert not torch.allclose(fixed(x), before, atol=1e-6)
    random = _model(preserve_function=False)
    before = random(x)
    random.widen_block(1, 2)
    assert float((random(x) - before).abs().max()) > 1e-3


def _count(channels: list[int], layers: list[int], *, k: int, head: int, side: int, hidden: int, classes: int) -> int:
    total = 0
    for b, n in enumerate(layers):
        cin, cout = channels[b], channels[b + 1]
        total += cin * cout * 9 + 2 * cout  # first conv (no bias) + BatchNorm
        total += (n - 1) * (cout * cout * k * k + 1)  # added convs + their learned slope
    total += channels[-1] * head + head + channels[1] * head  # the head's two 1x1 convs (the skip one without bias)
    total += head * side * side * hidden + hidden + 2 * hidden + hidden * classes + classes
    return total


def test_any_sequence_of_expansions_keeps_the_shapes_and_the_analytic_parameter_count() -> None:
    model = _model()
    gen = torch.Generator().manual_seed(0)
    steps = [("layer", 2), ("channels", 0), ("layer", 0), ("channels", 2), ("channels", 1), ("layer", 0)]
    for kind, b in steps:
        if kind == "layer":
            model.add_identity_layer(b, generator=gen)
        else:
            model.widen_block(b, 2, generator=gen)
        out = model.train()(torch.randn(4, 12, 12, 1))
        assert out.shape == (4, 5)
        ch = model.channels()
        assert model.head_main.in_channels == ch[-1] and model.head_skip is not None
        assert model.head_skip.in_channels == ch[1]
        for b2 in range(1, 3):
            assert model.blocks[b2].layers[0].conv.in_channels == ch[b2]
        assert model.num_params() == _count(ch, model.layers_per_block(), k=1, head=3, side=3, hidden=20,
                                            classes=5)
    assert model.architecture() == {"channels": [1, 6, 6, 6], "layers": [3, 1, 2]}


def test_growth_keeps_the_parameter_objects_and_their_leading_block() -> None:
    model = _model()
    w = model.blocks[1].layers[0].conv.weight
    old = w.detach().clone()
    ids = {id(p) for p in model.parameters()}
    model.widen_block(1, 2)
    assert model.blocks[1].layers[0].conv.weight is w and torch.equal(w[:4], old)
    assert ids <= {id(p) for p in model.parameters()}


def test_capacity_limits_are_refused() -> None:
    model = _model(max_layers_per_block=2, max_channels_per_block=6)
    model.add_identity_layer(0)
    assert not model.can_add_layer(0) and model.can_add_layer(1)
    with pytest.raises(ValueError, match="max_layers_per_block"):
        model.add_identity_layer(0)
    assert model.can_widen(2, 2) and not model.can_widen(2, 3)
    with pytest.raises(ValueError, match="cannot widen"):
        model.widen_block(2, 3)


def test_the_architecture_record_rebuilds_a_grown_model_for_its_weights() -> None:
    model = _model()
    model.add_identity_layer(1)
    model.widen_block(0, 2)
    fresh = _model()
    with pytest.raises(RuntimeError):
        fresh.load_state_dict(model.state_dict())
    fresh.load_architecture_state(model.architecture_state())
    fresh.load_state_dict(model.state_dict())
    assert [n for n, _ in fresh.named_parameters()] == [n for n, _ in model.named_parameters()]
    x = _x()
    with torch.no_grad():
        assert torch.equal(fresh(x), model(x))
    snap = build_snapshot(model.config.model_dump(), model.architecture(), model.state_dict()).eval()
    with torch.no_grad():
        assert torch.equal(snap(x), model(x))
    with pytest.raises(ValueError, match="does not belong"):
        fresh.load_architecture_state({"channels": [3, 4, 4, 4], "layers": [1, 1, 1]})


def test_a_fixed_model_of_a_grown_architecture_builds_from_its_config() -> None:
    model = forwardkit.create("model", "expandable_cnn", channels=[1, 6, 4, 4], layers=[3, 1, 2], input_size=[12, 12])
    assert model.architecture() == {"channels": [1, 6, 4, 4], "layers": [3, 1, 2]}
    with pytest.raises(forwardkit.ConfigError):
        forwardkit.create("model", "expandable_cnn", channels=[1, 4, 4], layers=[1])


def test_variants_without_the_skip_path_and_with_3x3_fixed_slope_layers_run_and_backpropagate() -> None:
    model = ExpandableCNN(channels=[2, 2, 3], input_size=[8, 6], num_classes=3, head_channels=2, fc_hidden=5,
                          layers=[1, 2], skip_from_first=False, identity_kind="conv3x3", identity_slope="fixed")
    assert model.head_skip is None
    model.widen_block(0, 2)
    model.add_identity_layer(0)
    batch = model.example_batch(4, generator=torch.Generator().manual_seed(0))
    model(batch["x"]).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
