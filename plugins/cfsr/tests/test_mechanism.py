"""The card's mechanism tests: edge kernels, branch merging (fast kernel vs paper-literal sum), EFN and ConvMod
against their equations, layer scales, the model's shapes and mean handling, the released parameter counts."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from forwardkit_cfsr.cfsr import CFSR, cfsr_block
from forwardkit_cfsr.config import CFSRConfig
from forwardkit_cfsr.conv_modulation import ConvModulation
from forwardkit_cfsr.edge_ffn import EdgeFFN
from forwardkit_cfsr.edges import RELEASED, TEXTBOOK, edge_kernel
from forwardkit_cfsr.merge import merge_model
from forwardkit_cfsr.reparam import RepDepthwise

import forwardkit
from forwardkit.interfaces.dataset import DatasetMetadata

EDGES = ["sobel_x", "sobel_y", "laplacian"]


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _randomise_edges(module: torch.nn.Module, seed: int = 0) -> None:
    """Edge scales and biases of order 1 (their 1e-3 init would make any merge test trivially pass)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, RepDepthwise) and m.edges:
                m.edge_scale.copy_(torch.randn(m.edge_scale.shape, generator=gen))
                m.edge_bias.copy_(torch.randn(m.edge_bias.shape, generator=gen))


# ---- kernel constants -------------------------------------------------------------------------------------------
def test_released_kernels_are_the_official_masks() -> None:
    # basicsr/archs/cfsr_arch.py (Aitical/CFSR): the masks set index by index
    sobel_x = torch.zeros(3, 3)
    for (r, c), v in {(0, 1): 1, (1, 0): 2, (2, 0): 1, (0, 2): -1, (1, 2): -2, (2, 2): -1}.items():
        sobel_x[r, c] = v
    sobel_y = torch.zeros(3, 3)
    for (r, c), v in {(0, 0): 1, (0, 1): 2, (0, 2): 1, (2, 0): -1, (2, 1): -2, (2, 2): -1}.items():
        sobel_y[r, c] = v
    laplacian = torch.zeros(3, 3)
    for (r, c), v in {(0, 0): 1, (1, 0): 1, (1, 2): 1, (2, 1): 1, (1, 1): -4}.items():
        laplacian[r, c] = v
    assert torch.equal(edge_kernel("sobel_x"), sobel_x)
    assert torch.equal(edge_kernel("sobel_y"), sobel_y)
    assert torch.equal(edge_kernel("laplacian"), laplacian)
    assert not torch.equal(edge_kernel("sobel_x"), edge_kernel("sobel_y").T)  # the released slip
    for name in EDGES:
        assert float(edge_kernel(name).sum()) == 0.0


def test_textbook_kernels() -> None:
    sx, sy, lap = (edge_kernel(n, "textbook") for n in EDGES)
    assert torch.equal(sx, sy.T)
    assert torch.equal(lap, torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]))
    for k in (sx, sy, lap):
        assert float(k.sum()) == 0.0
    assert RELEASED["sobel_y"] == TEXTBOOK["sobel_y"] and RELEASED["sobel_x"] != TEXTBOOK["sobel_x"]
    with pytest.raises(ValueError, match="variant"):
        edge_kernel("sobel_x", "ecbsr")


# ---- the fast (composed) kernel against the paper-literal branch sum, and merging ------------------------------
@pytest.mark.parametrize(("rank", "kernel", "small", "edges"), [
    (2, 9, 3, []), (2, 9, 3, EDGES), (2, 3, None, EDGES), (1, 9, 3, []), (3, 5, 3, []),
])
def test_composed_kernel_equals_the_branch_sum(rank: int, kernel: int, small: int | None, edges: list[str]) -> None:
    torch.manual_seed(0)
    conv = RepDepthwise(rank=rank, channels=6, kernel=kernel, small=small, edges=edges)
    _randomise_edges(conv)
    x = torch.randn(2, 6, *([7] * rank))
    torch.testing.assert_close(conv(x), conv.forward_branches(x), rtol=1e-5, atol=1e-5)
    merged = copy.deepcopy(conv).merge_()
    assert merged.merged and [n for n, _ in merged.named_parameters()] == ["weight", "bias"]
    torch.testing.assert_close(merged(x), conv.forward_branches(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("variant", ["released", "textbook"])
def test_edge_ffn_is_unchanged_by_merge_branches(variant: str) -> None:
    torch.manual_seed(1)
    ffn = EdgeFFN(dim=8, kernel_variant=variant).eval()
    _randomise_edges(ffn, seed=2)
    x = torch.randn(2, 9, 11, 8)
    merged, report = forwardkit.create("compressor", "merge_branches").compress(ffn, [{"x": x}])
    assert not merged.dw.edges and merged.config.merged
    torch.testing.assert_close(merged(x), ffn(x), rtol=1e-5, atol=1e-5)
    assert report.details["max_abs_output_diff"] < 1e-5 and report.details["merged_convs"] == 1
    assert report.before.parameters - report.after.parameters == 2 * 3 * 16  # scales and biases of 3 branches


def test_conv_modulation_is_unchanged_by_merging_the_small_kernel() -> None:
    for edges in ([], EDGES):  # CFSR's ConvMod, and the official training code's 'AllEdge' form
        torch.manual_seed(3)
        mixer = ConvModulation(dim=8, edge_kernels=edges).eval()
        _randomise_edges(mixer)
        with torch.no_grad():
            mixer.dw.small_weight.mul_(10.0)  # a branch that matters
        x = torch.randn(2, 12, 10, 8)
        merged = merge_model(mixer)
        assert merged.dw.small is None and tuple(merged.dw.weight.shape) == (8, 1, 9, 9)
        torch.testing.assert_close(merged(x), mixer(x), rtol=1e-5, atol=1e-5)
        without = copy.deepcopy(mixer)
        with torch.no_grad():
            without.dw.small_weight.zero_()
        assert (without(x) - mixer(x)).abs().max() > 1e-3  # the small branch does contribute


def test_zero_edge_scales_give_the_plain_depthwise_ffn() -> None:
    torch.manual_seed(4)
    efn = EdgeFFN(dim=8)
    plain = EdgeFFN(dim=8, edge_kernels=[])
    plain.load_state_dict({k: v for k, v in efn.state_dict().items() if not k.startswith("dw.edge_")})
    x = torch.randn(2, 6, 7, 8)
    assert (efn(x) - plain(x)).abs().max() > 0  # the random 1e-3 init is not zero
    with torch.no_grad():
        efn.dw.edge_scale.zero_()
        efn.dw.edge_bias.zero_()
    torch.testing.assert_close(efn(x), plain(x), rtol=0, atol=0)


# ---- the equations, written out NCHW with nn.Conv2d (the official layout) ----------------------------------------
def _conv1x1(linear: torch.nn.Linear) -> torch.nn.Conv2d:
    conv = torch.nn.Conv2d(linear.in_features, linear.out_features, 1)
    with torch.no_grad():
        conv.weight.copy_(linear.weight[:, :, None, None])
        conv.bias.copy_(linear.bias)
    return conv


def _layer_norm_channels_first(x: torch.Tensor, norm: torch.nn.LayerNorm) -> torch.Tensor:
    """The official ``LayerNorm(data_format='channels_first')``: mean and biased variance over C."""
    u = x.mean(1, keepdim=True)
    s = (x - u).pow(2).mean(1, keepdim=True)
    return norm.weight[:, None, None] * ((x - u) / torch.sqrt(s + norm.eps)) + norm.bias[:, None, None]


def test_edge_ffn_follows_eq_4_to_6() -> None:
    torch.manual_seed(5)
    efn = EdgeFFN(dim=6, inner_norm=True)
    _randomise_edges(efn)
    x = torch.randn(2, 7, 8, 6)
    z = _layer_norm_channels_first(x.permute(0, 3, 1, 2), efn.norm)
    t = F.gelu(_conv1x1(efn.fc1)(z))
    dw = efn.dw
    u = F.conv2d(t, dw.weight, dw.bias, padding=1, groups=12)
    for e, name in enumerate(EDGES):
        kernel = dw.edge_scale[e][:, None, None, None] * edge_kernel(name)[None, None]
        u = u + F.conv2d(t, kernel, dw.edge_bias[e], padding=1, groups=12)
    expected = _conv1x1(efn.fc2)(t + F.gelu(u)).permute(0, 2, 3, 1)
    torch.testing.assert_close(efn(x), expected, rtol=1e-5, atol=1e-5)


def test_conv_modulation_follows_eq_2_and_3() -> None:
    torch.manual_seed(6)
    mixer = ConvModulation(dim=6, inner_norm=True)
    x = torch.randn(2, 10, 9, 6)
    z = _layer_norm_channels_first(x.permute(0, 3, 1, 2), mixer.norm)
    dw = mixer.dw
    a = F.gelu(_conv1x1(mixer.w_a)(z))
    a = F.conv2d(a, dw.weight, dw.bias, padding=4, groups=6) + F.conv2d(a, dw.small_weight, dw.small_bias, padding=1,
                                                                        groups=6)
    expected = _conv1x1(mixer.w_o)(a * _conv1x1(mixer.w_v)(z)).permute(0, 2, 3, 1)
    torch.testing.assert_close(mixer(x), expected, rtol=1e-5, atol=1e-5)


def test_conv_modulation_is_rank_generic_and_refuses_other_ranks() -> None:
    for rank, shape in ((1, (2, 11, 8)), (3, (2, 3, 4, 5, 8))):
        mixer = ConvModulation(dim=8, spatial_rank=rank, kernel_size=5)
        assert mixer(torch.randn(*shape)).shape == shape
    with pytest.raises(ValueError, match="spatial_rank=2"):
        ConvModulation(dim=8)(torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="edge_kernels are 3x3 image filters"):
        forwardkit.create("token_mixer", "conv_modulation", dim=8, spatial_rank=1, edge_kernels=["sobel_x"])


# ---- blocks and the model --------------------------------------------------------------------------------------
def test_layer_scales_start_at_1e_6_so_a_block_is_near_identity() -> None:
    torch.manual_seed(7)
    block = cfsr_block(CFSRConfig(embed_dim=16))
    assert torch.all(block.layer_scale1.scale == 1e-6) and torch.all(block.layer_scale2.scale == 1e-6)
    x = torch.randn(2, 12, 12, 16)
    assert (block(x) - x).abs().max() < 1e-4
    with torch.no_grad():
        block.layer_scale1.scale.fill_(1.0)
    assert (block(x) - x).abs().max() > 1e-2  # with unit scales the branches are not negligible


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_output_shape_is_scale_times_the_input(scale: int) -> None:
    model = CFSR(preset="cfsr_tiny", depths=[1], scale=scale)
    assert model(torch.rand(2, 9, 7, 3)).shape == (2, 9 * scale, 7 * scale, 3)


def test_the_mean_is_subtracted_once_and_added_back_once() -> None:
    model = CFSR(preset="cfsr_tiny", depths=[1])
    with torch.no_grad():
        model.upsample.weight.zero_()
        model.upsample.bias.zero_()
    out = model(torch.rand(2, 8, 8, 3))
    torch.testing.assert_close(out, torch.tensor(model.config.rgb_mean).expand(2, 16, 16, 3), rtol=0, atol=1e-7)
    # with the features' contribution gone, x itself never reaches the output: no second mean, no input skip
    assert (out - out[0, 0, 0]).abs().max() == 0


def test_released_parameter_counts() -> None:
    # Aitical/CFSR README: 307K parameters at x4; the released (merged) arch at embed_dim 48, depths [6, 6],
    # dw_size 9, mlp_ratio 2 (options/test_CFSR_SRx{2,3,4}.yml) has 291,324 / 297,819 / 306,912 parameters.
    released = {"cfsr_x2": 291_324, "cfsr_x3": 297_819, "cfsr_x4": 306_912}
    for preset, count in released.items():
        assert _count(CFSR(preset=preset, merged=True)) == count, preset
    trained = CFSR(preset="cfsr_x4")
    merged = merge_model(trained)
    assert _count(merged) == 306_912 and _count(trained) == 306_912 + 12 * (9 * 48 + 48) + 12 * 6 * 96
    assert _count(CFSR(preset="cfsr_tiny")) == 38_916 and _count(CFSR(preset="cfsr_tiny", merged=True)) == 36_804


def test_the_merged_model_equals_the_trained_one_and_loads_into_the_merged_config() -> None:
    torch.manual_seed(8)
    model = CFSR(preset="cfsr_tiny", mixer_edge_kernels=EDGES)
    _randomise_edges(model)
    with torch.no_grad():  # layer scales of a trained model, so the blocks matter
        for name, p in model.named_parameters():
            if "layer_scale" in name:
                p.fill_(0.5)
    model.eval()
    x = torch.rand(2, 10, 12, 3)
    merged, report = forwardkit.create("compressor", "merge_branches").compress(model, [{"x": x}])
    assert report.details["merged_convs"] == 8 and report.after.parameters == _count(merged)
    torch.testing.assert_close(merged(x), model(x), rtol=1e-5, atol=1e-5)
    assert merged.config.merged and all(m.config.merged for m in merged.modules()
                                        if isinstance(m, ConvModulation | EdgeFFN))
    fresh = CFSR(merged.config)
    fresh.load_state_dict(merged.state_dict())
    torch.testing.assert_close(fresh.eval()(x), model(x), rtol=1e-5, atol=1e-5)
    assert any(not m.merged for m in model.modules() if isinstance(m, RepDepthwise))  # the original is untouched


def test_presets_and_scale_from_the_data() -> None:
    assert CFSRConfig(preset="cfsr_x4").scale == 4 and CFSRConfig(preset="cfsr_tiny").embed_dim == 24
    assert CFSRConfig(preset="cfsr_tiny", embed_dim=32).embed_dim == 32  # explicit fields win
    with pytest.raises(ValueError, match="x4 network"):
        CFSRConfig(preset="cfsr_x4", scale=2)
    meta = DatasetMetadata(task="image_restoration", input_shape=(24, 24, 3), target_shape=(72, 72, 3),
                           extra={"scale": 3})  # what sr_patches says at scale 3
    assert CFSR.fields_from_metadata(meta) == {"in_channels": 3, "scale": 3}
