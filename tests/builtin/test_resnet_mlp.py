"""The builtin ResNet (CIFAR, He et al. 2016 sec. 4.2) and MLPNet."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import forwardkit
from forwardkit.builtin.models import MLPNet
from forwardkit.builtin.resnet import ResNet
from forwardkit.errors import ConfigError
from forwardkit.nn import BasicBlock


def test_resnet20_structure_and_forward():
    model = forwardkit.build_model({"name": "resnet", "depth": 20})
    assert isinstance(model, ResNet)
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 9 and [len(s) for s in (model.layer1, model.layer2, model.layer3)] == [3, 3, 3]
    # 6n + 2 weighted layers: the 3x3 convs and the classifier (1x1 shortcut projections not counted)
    convs3 = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs3) + 1 == 20
    assert [s[0].conv1.out_channels for s in (model.layer1, model.layer2, model.layer3)] == [16, 32, 64]
    assert [s[0].conv1.stride for s in (model.layer1, model.layer2, model.layer3)] == [(1, 1), (2, 2), (2, 2)]
    # option B: projection shortcuts exactly where the shape changes
    assert isinstance(model.layer1[0].shortcut, nn.Identity)
    assert isinstance(model.layer2[0].shortcut, nn.Sequential) and isinstance(model.layer2[1].shortcut, nn.Identity)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    out = model(torch.randn(2, 32, 32, 3))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    batch = model.example_batch(2, generator=torch.Generator().manual_seed(0))
    assert batch["x"].shape == (2, 32, 32, 3) and model(batch["x"]).shape == (2, 10)


def test_resnet_final_feature_map_is_quarter_size():
    model = ResNet(depth=8, width=4)
    seen = {}

    def record(module, inputs, output):
        seen["shape"] = output.shape

    model.layer3.register_forward_hook(record)
    model(torch.randn(1, 32, 32, 3))
    assert seen["shape"] == (1, 16, 8, 8)


@pytest.mark.parametrize("depth", [21, 18])
def test_bad_depth_names_depth(depth):
    with pytest.raises(ConfigError, match="depth"):
        forwardkit.build_model({"name": "resnet", "depth": depth})
    with pytest.raises(ConfigError, match="depth"):
        ResNet(depth=depth)


@pytest.mark.parametrize(
    ("norm", "kind"),
    [("batchnorm", nn.BatchNorm2d), ("groupnorm", nn.GroupNorm), ("layernorm", nn.GroupNorm), ("identity", None)],
)
def test_resnet_norm_options(norm, kind):
    model = ResNet(depth=8, width=12, norm=norm, groups=8)
    norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm))]
    if kind is None:
        assert norms == [] and model.conv1.bias is not None
    else:
        assert norms and all(isinstance(m, kind) for m in norms)
    if norm == "groupnorm":  # largest divisor of the channels not above 8: 12 -> 6, 24 -> 8, 48 -> 8
        assert {m.num_channels: m.num_groups for m in norms} == {12: 6, 24: 8, 48: 8}
    if norm == "layernorm":
        assert all(m.num_groups == 1 for m in norms)
    out = model(torch.randn(2, 16, 16, 3))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_resnet_rejects_channels_first():
    with pytest.raises(ValueError, match="channels-last"):
        ResNet(depth=8)(torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize("norm", ["batchnorm", "identity"])
def test_resnet_gradients_reach_every_parameter(norm):
    torch.manual_seed(0)
    model = ResNet(depth=8, width=8, norm=norm).train()
    batch = model.example_batch(4)
    F.cross_entropy(model(batch["x"]), batch["y"]).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("norm", ["none", "batchnorm", "layernorm"])
def test_mlpnet(norm):
    model = forwardkit.build_model({"name": "mlp", "in_features": 48, "hidden": [32, 16], "norm": norm, "dropout": 0.1})
    assert isinstance(model, MLPNet)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(48, 32), (32, 16), (16, 10)]
    out = model(torch.randn(4, 4, 4, 3))  # flattened to 48 features
    assert out.shape == (4, 10)
    batch = model.example_batch(4)
    F.cross_entropy(model(batch["x"]), batch["y"]).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    with pytest.raises(ValueError, match="48 features"):
        model(torch.randn(4, 5))
