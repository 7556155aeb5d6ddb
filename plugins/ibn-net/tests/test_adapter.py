"""The ibn adapter (paper sec. 3.2, fig. 3): placement of IBN-a / IBN-b, equivalences, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from forwardkit_ibn_net.adapter import IBNBlock, IBNError, apply_ibn, apply_ibn_a, apply_ibn_b
from forwardkit_ibn_net.ibn import IBN
from torch import nn

import forwardkit


class Bottleneck(nn.Module):
    """A torchvision-style bottleneck block (1x1, 3x3, 1x1; expansion 4; ``downsample`` may be None)."""

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes * 4, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet50Shaped(nn.Module):
    """Stem conv/bn1/relu, stages of [3, 4, 6, 3] bottlenecks (tiny widths), on NCHW input."""

    def __init__(self, planes: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        cin = 8
        for i, n in enumerate([3, 4, 6, 3]):
            blocks = []
            for j in range(n):
                blocks.append(Bottleneck(cin, planes * 2**i, 2 if i and not j else 1))
                cin = planes * 2**i * 4
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(cin, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))
        return self.fc(h.mean((2, 3)))


class PlainCNN(nn.Module):
    """A user's plain CNN (no residual stages): three conv-BN-ReLU layers and a head, NCHW input."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 12, 3, padding=1), nn.BatchNorm2d(12), nn.ReLU(),
            nn.Conv2d(12, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        )
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))


class PreActBlock(nn.Module):
    """Pre-activation block: has conv1/bn1/conv2/bn2/shortcut but computes something else."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(c), nn.Conv2d(c, c, 3, padding=1)
        self.bn2, self.conv2 = nn.BatchNorm2d(c), nn.Conv2d(c, c, 3, padding=1)
        self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.bn1(x)))
        return self.conv2(F.relu(self.bn2(out))) + self.shortcut(x)


class Staged(nn.Module):
    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.layer1 = nn.Sequential(block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer1(F.relu(self.bn1(self.conv1(x))))


def _randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BN non-trivial affine and running statistics, as after training."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
    return model


def _of_type(model: nn.Module, cls: type) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, cls)]


def _conv_shapes(model: nn.Module) -> list[tuple[int, ...]]:
    return [tuple(m.weight.shape) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


def test_ibn_a_on_the_builtin_resnet_keeps_the_call_signature() -> None:
    torch.manual_seed(0)
    model = forwardkit.build_model({"name": "resnet", "depth": 14, "width": 8, "num_classes": 4})
    adapter = forwardkit.create("adapter", "ibn")
    new = adapter.apply(model)
    assert new is not model
    # depth 14: 3 stages x 2 blocks; IBN-a on all but the last stage, at each block's bn1
    assert _of_type(new, IBN) == ["layer1.0.bn1", "layer1.1.bn1", "layer2.0.bn1", "layer2.1.bn1"]
    assert isinstance(new.bn1, nn.BatchNorm2d) and not _of_type(new.layer3, IBN)
    x = torch.randn(3, 16, 16, 3)  # channels-last, like the original
    for training in (True, False):
        new.train(training)
        assert new(x).shape == model(x).shape == (3, 4)
    assert new.layer1[0].bn1.IN.num_features == 4 and new.layer1[0].bn1.BN.num_features == 4


def test_ibn_a_on_a_users_plain_cnn() -> None:
    torch.manual_seed(0)
    model = PlainCNN()
    new = forwardkit.create("adapter", "ibn", variant="a").apply(model)
    # no residual stages: every BN but the last one becomes IBN (the analogue of "all but the last stage")
    assert _of_type(new, IBN) == ["features.1", "features.4"]
    assert isinstance(new.features[7], nn.BatchNorm2d)
    assert new.features[4].half == 6
    x = torch.randn(2, 3, 8, 8)
    assert new(x).shape == model(x).shape
    one = apply_ibn_a(PlainCNN(), a_stages=1, ratio=0.25)
    assert _of_type(one, IBN) == ["features.1"] and one.features[1].half == 2


def test_ibn_a_placement_on_resnet18_shape() -> None:
    model = forwardkit.build_model({"name": "resnet_ibn", "variant": "none", "widths": [8, 16, 32, 64], "blocks": 2})
    new = apply_ibn(model, "a")
    ibns = _of_type(new, IBN)
    assert ibns == [f"layer{s}.{b}.bn1" for s in (1, 2, 3) for b in (0, 1)]
    assert all(new.get_submodule(p).half == new.get_submodule(p).config.channels // 2 for p in ibns)
    # the other norms are untouched: stem + 16 block norms + 3 shortcut norms, minus the 6 now IBN
    plain = [n for n in _of_type(new, nn.BatchNorm2d) if not n.endswith(".BN")]
    assert len(plain) == 20 - 6 and "bn1" in plain and "layer4.0.bn1" in plain


def test_ibn_a_and_b_placement_on_resnet50_shape() -> None:
    a = apply_ibn_a(ResNet50Shaped())
    assert len(_of_type(a, IBN)) == 3 + 4 + 6
    assert all(p.endswith(".bn1") for p in _of_type(a, IBN))
    assert not _of_type(a.layer4, IBN)
    b = apply_ibn_b(ResNet50Shaped())
    assert _of_type(b, IBNBlock) == ["layer1.2", "layer2.3"]
    assert isinstance(b.bn1, nn.InstanceNorm2d) and b.bn1.affine
    assert b.layer1[2].IN.num_features == 8 and b.layer2[3].IN.num_features == 16
    assert not _of_type(b, IBN)
    x = torch.randn(2, 3, 16, 16)
    assert b(x).shape == a(x).shape == (2, 5)


def test_ibn_b_on_the_builtin_resnet() -> None:
    model = forwardkit.build_model({"name": "resnet", "depth": 14, "width": 8, "num_classes": 4})
    new = forwardkit.create("adapter", "ibn", variant="b").apply(model)
    assert _of_type(new, IBNBlock) == ["layer1.1", "layer2.1"]
    assert isinstance(new.bn1, nn.InstanceNorm2d)
    assert new(torch.randn(2, 16, 16, 3)).shape == (2, 4)


def test_ibn_b_puts_in_after_the_addition_and_before_the_relu() -> None:
    torch.manual_seed(0)
    model = _randomize_bn(forwardkit.build_model({"name": "resnet", "depth": 8, "width": 8})).eval()
    new = apply_ibn_b(model)
    block = new.layer1[0]
    with torch.no_grad():
        block.IN.weight.uniform_(0.5, 1.5)
        block.IN.bias.normal_()
    x = torch.randn(2, 8, 6, 6)
    b = block.block
    s = b.bn2(b.conv2(F.relu(b.bn1(b.conv1(x))))) + b.shortcut(x)
    mean, var = s.mean((2, 3), keepdim=True), s.var((2, 3), unbiased=False, keepdim=True)
    expected = F.relu((s - mean) / (var + 1e-5).sqrt() * block.IN.weight[:, None, None] + block.IN.bias[:, None, None])
    torch.testing.assert_close(block(x), expected, rtol=1e-4, atol=1e-5)


def test_ratio_zero_adapted_model_is_identical_in_eval() -> None:
    torch.manual_seed(0)
    model = _randomize_bn(forwardkit.build_model({"name": "resnet", "depth": 14, "width": 8})).eval()
    new = forwardkit.create("adapter", "ibn", ratio=0.0).apply(model).eval()
    x = torch.randn(3, 12, 12, 3)
    assert len(_of_type(new, IBN)) == 4
    assert torch.equal(new(x), model(x))


def test_conversion_of_a_trained_model_keeps_bn_half_statistics() -> None:
    torch.manual_seed(0)
    model = forwardkit.build_model({"name": "resnet", "depth": 8, "width": 8, "num_classes": 3})
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):  # a few training steps: running statistics and affine move away from their init
        loss = F.cross_entropy(model(torch.randn(8, 8, 8, 3) * 2 + 1), torch.randint(0, 3, (8,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    new = forwardkit.create("adapter", "ibn").apply(model)
    for path in ("layer1.0.bn1", "layer2.0.bn1"):
        bn, layer = model.get_submodule(path), new.get_submodule(path)
        assert torch.equal(layer.BN.running_mean, bn.running_mean[layer.bn_part])
        assert torch.equal(layer.BN.running_var, bn.running_var[layer.bn_part])
        assert torch.equal(layer.BN.weight, bn.weight[layer.bn_part])
        assert torch.equal(layer.IN.weight, bn.weight[layer.in_part])
        assert not torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))


@pytest.mark.parametrize("variant", ["a", "b"])
def test_parameters_grow_only_by_in_affine_and_no_new_convs(variant: str) -> None:
    model = forwardkit.build_model({"name": "resnet_ibn", "variant": "none", "widths": [8, 16, 32, 64], "blocks": 2})
    new = apply_ibn(forwardkit.build_model(model.config.model_copy(update={"variant": "none"}).model_dump()
                                           | {"name": "resnet_ibn"}), variant)
    n0 = sum(p.numel() for p in model.parameters())
    n1 = sum(p.numel() for p in new.parameters())
    # IBN-a: IN + BN affine = old BN affine (2C); IBN-b: +2C per IN after an addition (8 and 16 channels)
    assert n1 - n0 == (0 if variant == "a" else 2 * (8 + 16))
    assert _conv_shapes(new) == _conv_shapes(model)  # same convs and head: same MACs


@pytest.mark.parametrize("variant", ["a", "b"])
def test_state_dict_round_trip(variant: str) -> None:
    torch.manual_seed(0)
    spec = {"name": "resnet_ibn", "variant": variant, "widths": [8, 16], "blocks": 2}
    a, b = forwardkit.build_model(spec), forwardkit.build_model(spec)
    _randomize_bn(a, 1)
    x = torch.randn(2, 12, 12, 3)
    a.train()
    a(x)  # update the BN halves' running statistics
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    assert torch.equal(a(x), b(x))


def test_ibn_b_refuses_unknown_blocks() -> None:
    with pytest.raises(IBNError, match="does not compute relu"):
        apply_ibn_b(Staged(PreActBlock(4)))

    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.norm = nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.norm(self.conv(x))

    with pytest.raises(IBNError, match="IBN-b cannot rewrite a Odd"):
        apply_ibn_b(Staged(Odd()))
    with pytest.raises(IBNError, match="IBN-b needs residual stages"):
        forwardkit.create("adapter", "ibn", variant="b").apply(PlainCNN())
    # IBN-a only needs the first norm: it works on the odd block
    assert _of_type(apply_ibn_a(Staged(Odd()), a_stages=1), IBN) == ["layer1.0.norm"]


def test_ibn_a_refuses_models_without_batchnorm() -> None:
    gn = forwardkit.build_model({"name": "resnet", "depth": 8, "width": 8, "norm": "groupnorm"})
    with pytest.raises(IBNError, match="replaces BatchNorm2d"):
        apply_ibn_a(gn)
    with pytest.raises(IBNError, match="no BatchNorm2d"):
        apply_ibn_a(nn.Sequential(nn.Conv2d(3, 3, 1)))
    with pytest.raises(IBNError, match="unknown IBN variant"):
        apply_ibn(PlainCNN(), "c")


def test_explicit_stage_paths() -> None:
    model = ResNet50Shaped()
    new = apply_ibn_a(model, stages=["layer2"], a_stages=1)
    assert len(_of_type(new, IBN)) == 4 and not _of_type(new.layer1, IBN)
    with pytest.raises(IBNError, match="not modules"):
        apply_ibn_a(ResNet50Shaped(), stages=["nope"])
