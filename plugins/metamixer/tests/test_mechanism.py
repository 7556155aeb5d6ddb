"""The card's tests: order of operations, receptive field, re-parameterisation, attention special case,
translation equivariance, preset parameter counts, and the reproduction spec."""

import pytest
import torch
import torch.nn.functional as F
from forwardkit_metamixer.ffnet import FFNet, PatchMerging
from forwardkit_metamixer.layers import RepDWConv
from forwardkit_metamixer.reparam import fold_model, fold_patch_merging_skip

import forwardkit
from forwardkit.reproduce.spec import load_spec

torch.set_num_threads(1)


def _delta(conv: torch.nn.Conv2d) -> None:
    with torch.no_grad():
        conv.weight.zero_()
        k = conv.weight.shape[-1]
        conv.weight[:, :, k // 2, k // 2] = 1.0
        conv.bias.zero_()


def test_order_of_operations_gives_gelu_of_x():
    m = forwardkit.create("token_mixer", "ffnified_attention", dim=4, k1=3, k2=5, rep_small_kernel=None)
    with torch.no_grad():
        m.query.weight.copy_(torch.eye(4))
        m.query.bias.zero_()
    _delta(m.key.conv)
    _delta(m.value.conv)
    x = torch.randn(2, 6, 6, 4)
    assert torch.allclose(m(x), F.gelu(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("k", [3, 7])
def test_receptive_field_is_k1_plus_k2_minus_1(k):
    m = forwardkit.create("token_mixer", "ffnified_attention", dim=3, k1=k, k2=k)
    s = 2 * k + 3
    x = torch.randn(1, s, s, 3, requires_grad=True)
    m(x)[0, s // 2, s // 2].sum().backward()
    nz = x.grad[0].abs().sum(-1) > 0
    r = k - 1  # half width of the (2k-1) window
    c = s // 2
    inside = torch.zeros_like(nz)
    inside[c - r:c + r + 1, c - r:c + r + 1] = True
    assert bool(nz[inside].all()) and not bool(nz[~inside].any())


def _randomise_bn(module):
    for bn in module.modules():
        if isinstance(bn, torch.nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.5, 2.0)
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.5, 0.5)


def test_merged_7x7_equals_two_branches():
    conv = RepDWConv(rank=2, channels=5, kernel=7, small=3, bn=True)
    _randomise_bn(conv)
    conv.eval()
    x = torch.randn(2, 5, 9, 9)
    assert torch.allclose(conv(x), conv.fuse()(x), atol=1e-5)


def test_causal_rank1_branch_fusion_and_causality():
    conv = RepDWConv(rank=1, channels=3, kernel=7, small=3, causal=True)
    x = torch.randn(1, 3, 12)
    assert torch.allclose(conv(x), conv.fuse()(x), atol=1e-5)
    y = conv(x)
    x2 = x.clone()
    x2[..., 8:] += 1.0
    assert torch.allclose(conv(x2)[..., :8], y[..., :8])


def test_patch_merging_skip_fold():
    pm = PatchMerging(4, 8)
    _randomise_bn(pm)
    pm.eval()
    x = torch.randn(2, 4, 8, 8)
    d = pm.down(x)
    assert torch.allclose(pm(x), fold_patch_merging_skip(pm.bn, pm.proj)(d), atol=1e-5)


def test_reparam_fold_keeps_outputs_and_reports_zero_delta():
    model = FFNet(preset="tiny", in_channels=1, num_classes=10, mixer_kernels=[3, 3, 7, 7], channel_kernel=7)
    _randomise_bn(model)
    model.eval()
    comp = forwardkit.create("compressor", "reparam_fold", latency_repeats=2, latency_batch=4)
    folded, report = comp.compress(model)
    x = model.example_batch(4)["x"]
    assert torch.allclose(model(x), folded(x), atol=1e-4)
    assert report.details["max_abs_output_diff"] < 1e-4
    assert torch.equal(model(x).argmax(-1), folded(x).argmax(-1))  # zero accuracy delta
    assert report.after.parameters < report.before.parameters
    assert not any(isinstance(m, (RepDWConv, torch.nn.BatchNorm2d)) for m in folded.stages.modules())


def test_fold_of_bn_token_mixer():
    m = forwardkit.create("token_mixer", "ffnified_attention", dim=6, use_bn=True)
    _randomise_bn(m)
    m.eval()
    x = torch.randn(2, 9, 9, 6)
    assert torch.allclose(m(x), fold_model(m)(x), atol=1e-5)


def test_metamixer_dot_product_softmax_is_single_head_attention():
    m = forwardkit.create("token_mixer", "metamixer", dim=8, key="dot_product", act="softmax",
                          value="dot_product")
    x = torch.randn(2, 4, 5, 8)
    q, k, v = m.query(x).flatten(1, 2), m.key(x).flatten(1, 2), m.value(x).flatten(1, 2)
    ref = F.scaled_dot_product_attention(q, k, v).reshape(x.shape)
    assert torch.allclose(m(x), ref, atol=1e-5)


@pytest.mark.parametrize("name,kw", [("ffnified_attention", {"k1": 3, "k2": 3}), ("metamixer", {"kernel_size": 3})])
def test_translation_equivariance_in_the_interior(name, kw):
    m = forwardkit.create("token_mixer", name, dim=4, **kw)
    x = torch.randn(1, 16, 16, 4)
    y, ys = m(x), m(torch.roll(x, 1, dims=2))
    assert torch.allclose(torch.roll(y, 1, dims=2)[:, 4:-4, 4:-4], ys[:, 4:-4, 4:-4], atol=1e-5)


def test_preset_parameter_counts_match_official():
    official = {"ffnet_1": 13.78e6, "ffnet_2": 27.21e6, "ffnet_3": 48.82e6, "ffnet_4": 79.87e6}
    for preset, n in official.items():
        with torch.device("meta"):
            model = FFNet(preset=preset, num_classes=1000)
        count = sum(p.numel() for p in model.parameters())
        assert abs(count - n) / n < 0.005, (preset, count)


def test_dwconv_ffn_is_declared_non_pointwise():
    m = forwardkit.create("channel_mixer", "dwconv_ffn", dim=4)
    assert m.pointwise is False
    x = torch.randn(1, 8, 8, 4)
    x2 = x.clone()
    x2[0, 0, 0] += 1
    assert not torch.allclose(m(x)[0, 1, 1], m(x2)[0, 1, 1])


def test_bad_config_names_the_field():
    with pytest.raises(Exception, match="k1"):
        forwardkit.create("token_mixer", "ffnified_attention", dim=4, k1=4)


def test_reproduction_spec_loads_with_the_pass_bar():
    spec = load_spec("forwardkit_metamixer.reproduction:SPEC")
    assert "pooled std" in spec.pass_bar and len(spec.conditions) == 2 and len(spec.seeds) >= 3


def test_example_experiment_validates_and_its_model_runs():
    from pathlib import Path

    from forwardkit.config import validate_experiment
    from forwardkit.config.files import load_yaml

    path = Path(__file__).resolve().parents[3] / "examples" / "metamixer-mnist.yaml"
    exp = validate_experiment(load_yaml(path.read_text()))
    spec = load_yaml(path.read_text())["model"]
    model = forwardkit.build_model({**spec, "in_channels": 1, "num_classes": 10, "input_size": [28, 28]})
    out = model(torch.randn(2, 28, 28, 1))
    assert out.shape == (2, 10) and exp is not None


def test_every_arm_validates_and_one_smoke_arm_trains():
    from forwardkit.config import validate_experiment

    spec = load_spec("forwardkit_metamixer.reproduction:SPEC")
    for arm in spec.arms:
        validate_experiment(spec.experiment(arm, 0))
        validate_experiment(spec.experiment(arm, 0, smoke=True))
    exp = spec.experiment("ffnified", 0, smoke=True)
    model = forwardkit.build_model({**exp["model"], "in_channels": 1, "num_classes": 10, "input_size": [8, 8]})
    assert model(torch.randn(2, 8, 8, 1)).shape == (2, 10)
