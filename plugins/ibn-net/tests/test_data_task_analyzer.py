"""StyleShiftDigits (content fixed, appearance shifted), the style_shift task and FeatureDivergence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from forwardkit_ibn_net.analyzer import FeatureDivergence, symmetric_kl
from forwardkit_ibn_net.config import STYLES
from forwardkit_ibn_net.data import render
from forwardkit_ibn_net.task import StyleShift
from torch import nn

import forwardkit


@pytest.fixture(scope="module")
def small() -> object:
    ds = forwardkit.create("dataset", "style_shift_digits", n_samples=300, test_source=True)
    ds.metadata
    return ds


def test_splits_source_for_train_val_targets_for_test(small) -> None:
    meta = small.metadata
    assert meta.task == "style_shift" and meta.input_shape == (28, 28, 3) and meta.num_classes == 10
    assert set(small.split("train").tensors["domain"].tolist()) == {0}
    assert set(small.split("val").tensors["domain"].tolist()) == {0}
    test = small.split("test")
    counts = torch.bincount(test.tensors["domain"], minlength=len(STYLES))
    n_test = int(counts[0])
    assert (counts == n_test).all() and 25 <= n_test <= 35  # every test digit once per style (+ source)
    assert meta.sizes["test"] == n_test * len(STYLES) and sum(meta.sizes.values()) == 300 + n_test * 6
    for split in ("train", "val", "test"):
        x = small.split(split).x
        assert x.dtype == torch.float32 and float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def test_styles_change_appearance_not_content(small) -> None:
    test = small.split("test")
    dom, x, y = test.tensors["domain"], test.x, test.y
    src = x[dom == 0]
    for d, style in enumerate(STYLES[1:], start=1):
        assert torch.equal(torch.sort(y[dom == d]).values, torch.sort(y[dom == 0]).values)
        assert not torch.allclose(x[dom == d].mean(), src.mean(), atol=1e-3) or style == "contrast"


def test_render_formulas() -> None:
    alpha = np.zeros((2, 28, 28, 1), np.float32)
    alpha[:, 10:18, 12:16] = 1.0
    src = render(alpha, "source", background=0.2)
    assert np.allclose(src[0, 0, 0], 0.2) and np.allclose(src[0, 12, 13], 1.0)
    assert np.allclose(render(alpha, "brightness", shift=0.1)[0, 0, 0], 0.3)
    red = render(alpha, "red", shift=0.1)
    assert np.allclose(red[0, 0, 0], [0.3, 0.2, 0.2])
    assert np.allclose(render(alpha, "invert")[0, 0, 0], 0.8)
    col = render(alpha, "color", rng=0)
    assert (col[:, 12, 13] >= 0.5).all() and (col[:, 0, 0] <= 0.4).all()
    tex = render(alpha, "texture", rng=0)
    assert np.allclose(tex[:, 12, 13], 1.0) and tex[:, :5, :5].std() > 0.01
    with pytest.raises(ValueError, match="unknown style"):
        render(alpha, "sepia")


def test_task_reports_accuracy_per_domain() -> None:
    task = StyleShift()
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [2.0, 0.0]])
    batch = {"y": torch.tensor([0, 0, 0, 1]), "domain": torch.tensor([0, 0, 4, 4])}
    m = task.metrics(logits, batch)
    assert m["accuracy"] == (2.0, 4)
    assert m["accuracy_source"] == (1.0, 2) and m["accuracy_texture"] == (1.0, 2)
    assert "accuracy_invert" not in m
    assert "accuracy_source" not in task.metrics(logits, {"y": batch["y"]})


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
