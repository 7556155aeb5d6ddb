"""FeatureDivergence, and the domain-shift data it is used with (from forwardkit-datasets, by name).

The ``style_shift_digits`` dataset and the ``style_shift`` task live in forwardkit-datasets (their own tests,
including checksums that pin the data of this plugin's reproduction, are in plugins/datasets/tests).
"""

from __future__ import annotations

import pytest
import torch
from forwardkit_ibn_net.analyzer import FeatureDivergence, symmetric_kl
from torch import nn

import forwardkit


def test_symmetric_kl_of_known_gaussians() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 3, generator=g)
    b = torch.randn(20000, 3, generator=g) * 2 + 1
    # KL(N(0,1)||N(1,4)) + KL(N(1,4)||N(0,1)) = (log 2 + (1 + 1)/8 - 1/2) + (-log 2 + (4 + 1)/2 - 1/2) = 1.75
    assert symmetric_kl(a, b) == pytest.approx(1.75, rel=0.04)
    assert symmetric_kl(a, a) == pytest.approx(0.0, abs=1e-9)


def test_in_removes_the_divergence_of_an_appearance_shift_that_bn_keeps() -> None:
    """Sec. 3.1: per-image affine appearance changes give divergence in BN features, none in IN features."""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 6, 1)
    a = torch.randn(64, 8, 8, 3)
    b = a * 1.7 + 0.5  # the same images, another brightness/contrast

    def model(norm: nn.Module) -> nn.Module:
        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.conv, self.norm = conv, norm

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.norm(self.conv(x.permute(0, 3, 1, 2))).mean((2, 3))

        return Net().eval()

    data = {"a": [{"x": a}], "b": [{"x": b}]}
    analyzer = FeatureDivergence(layers=["norm"])
    d_in = analyzer.analyze(model(nn.InstanceNorm2d(6, affine=True)), data).numbers["norm"]
    d_bn = analyzer.analyze(model(nn.BatchNorm2d(6)), data).numbers["norm"]
    assert d_in < 1e-3 < 0.5 < d_bn


def test_divergence_splits_batches_by_domain() -> None:
    model = forwardkit.build_model({"name": "resnet_ibn", "variant": "a", "widths": [4, 8], "blocks": 1}).eval()
    x = torch.rand(8, 28, 28, 3)
    x[4:] = 1 - x[4:]
    batch = {"x": x, "y": torch.zeros(8, dtype=torch.long), "domain": torch.tensor([0] * 4 + [6] * 4)}
    res = FeatureDivergence(domain_a="source", domain_b="invert").analyze(model, [batch])
    assert set(res.numbers) == {"bn1", "layer1", "layer2", "mean"}
    assert all(r["samples_a"] == 4 and r["samples_b"] == 4 for r in res.tables["divergence"])


def test_default_layers_include_the_stem_norm_of_every_variant() -> None:
    from forwardkit_ibn_net.analyzer import default_layers

    for variant in ("none", "a", "b"):
        model = forwardkit.build_model({"name": "resnet_ibn", "variant": variant, "widths": [4, 8], "blocks": 1})
        assert default_layers(model) == ["bn1", "layer1", "layer2"]


def test_uses_the_shared_style_shift_data_by_name() -> None:
    """The experiment's data and task come from forwardkit-datasets through the registry; the analyzer
    splits its batches by the dataset's ``domain`` index and renders with the same styles."""
    registry = forwardkit.get_registry()
    for kind, name in (("dataset", "style_shift_digits"), ("task", "style_shift")):
        assert registry.get(kind, name).plugin == "datasets"
    ds = forwardkit.create("dataset", "style_shift_digits", n_samples=100, target_styles=["invert"], test_source=True)
    assert forwardkit.create("task", ds.metadata.task).metrics(
        torch.zeros(4, 10), {"y": torch.zeros(4, dtype=torch.long), "domain": torch.tensor([0, 0, 6, 6])}
    )["accuracy_invert"] == (2.0, 2)
    test = ds.split("test")
    batch = {"x": test.x, "y": test.y, "domain": test.tensors["domain"]}
    model = forwardkit.build_model({"name": "resnet_ibn", "variant": "b", "widths": [4, 8], "blocks": 1}).eval()
    res = FeatureDivergence(domain_a="source", domain_b="invert").analyze(model, [batch])
    n = len(test.y) // 2
    assert all(r["samples_a"] == n and r["samples_b"] == n for r in res.tables["divergence"])
    rendered = FeatureDivergence(render=True, samples=8).analyze(model)
    assert rendered.numbers["mean"] > 0
