"""The card's tests of the mechanism: residual spatial reduction, masked LayerNorm, the super-network's masks,
extraction, per-sample independence, rewiring, width warm-up and the analytic MAC count."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from forwardkit_vit_resnas.arch import Arch, SearchSpace, allowed_options
from forwardkit_vit_resnas.config import ViTResSuperNetConfig
from forwardkit_vit_resnas.macs import analytic_macs
from forwardkit_vit_resnas.masked_norm import (
    MaskedLayerNorm,
    masked_layer_norm,
    masked_layer_norm_reference,
    prefix_mask,
)
from forwardkit_vit_resnas.rsr import ResidualSpatialReduction, skip_path
from forwardkit_vit_resnas.sampling import TINY_SUPERNET, permute_optimizer_state
from forwardkit_vit_resnas.supernet import ViTResSuperNet
from forwardkit_vit_resnas.vit_res import ViTRes

from forwardkit.measure import count_macs

#: a small 3-stage super-network on 8x8 single-channel images (patch 1: 64 -> 16 -> 4 tokens)
SMALL = {"img_size": 8, "patch": 1, "in_channels": 1, "num_classes": 5, "depths": [2, 2, 2],
         "embed_choices": [[16, 12, 8], [24, 20, 16], [32, 28, 24]], "head_dims": [4, 4, 8],
         "attn_choices": [[12, 8, 4], [16, 8], [24, 16]], "mlp_choices": [[32, 24, 16], [48, 32], [64, 48]],
         "drop_path": 0.0}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _supernet(**overrides) -> ViTResSuperNet:
    torch.manual_seed(0)
    net = ViTResSuperNet(**{**SMALL, **overrides}).eval()
    with torch.no_grad():  # non-trivial norms and biases, so that masking mistakes show
        for name, p in net.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return net


def _archs(net: ViTResSuperNet, n: int, seed: int = 0) -> list[Arch]:
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        a = net.space.random(rng)
        if any(not k for s in a.keep for k in s) or len(out) > 0:  # the first one skips a block
            out.append(a)
    return out


# ---- residual spatial reduction -----------------------------------------------------------------------------
def test_rsr_shapes_and_the_skip_path_alone_is_pooled_tokens_zero_padded() -> None:
    torch.manual_seed(0)
    rsr = ResidualSpatialReduction(in_dim=6, out_dim=10, grid=4, num_cls_tokens=1)
    x = torch.randn(3, 1 + 16, 6)
    out = rsr(x)
    assert out.shape == (3, 1 + 4, 10)
    with torch.no_grad():  # zero the main path: conv, class-token projection and position embedding
        for p in (rsr.conv.weight, rsr.conv.bias, rsr.cls_proj.weight, rsr.cls_proj.bias, rsr.pos_embed):
            p.zero_()
    skip = rsr(x)
    grid = x[:, 1:].reshape(3, 4, 4, 6)
    pooled = (grid[:, 0::2, 0::2] + grid[:, 1::2, 0::2] + grid[:, 0::2, 1::2] + grid[:, 1::2, 1::2]) / 4
    torch.testing.assert_close(skip[:, 1:, :6], pooled.reshape(3, 4, 6))
    torch.testing.assert_close(skip[:, :1, :6], x[:, :1])  # class token passed through
    assert torch.equal(skip[..., 6:], torch.zeros(3, 5, 4))  # new channels zero-padded
    torch.testing.assert_close(skip, skip_path(x, grid=4, num_cls_tokens=1, out_dim=10))


def test_the_skip_path_uses_the_unnormalised_input_and_residual_false_drops_it() -> None:
    torch.manual_seed(0)
    x = 5.0 + 3.0 * torch.randn(2, 1 + 16, 6)
    with_skip = ResidualSpatialReduction(in_dim=6, out_dim=8, grid=4)
    plain = ResidualSpatialReduction(in_dim=6, out_dim=8, grid=4, residual=False)
    plain.load_state_dict(with_skip.state_dict())
    diff = with_skip(x) - plain(x)
    torch.testing.assert_close(diff, skip_path(x, grid=4, num_cls_tokens=1, out_dim=8))
    assert diff[..., :6].abs().mean() > 1.0  # LN(x) would be O(1) and centred: this is the raw input


# ---- masked LayerNorm ------------------------------------------------------------------------------------------
def test_masked_layer_norm_full_mask_is_layer_norm_and_prefix_is_layer_norm_of_the_prefix() -> None:
    torch.manual_seed(0)
    x, w, b = torch.randn(3, 5, 12), torch.randn(12), torch.randn(12)
    full = prefix_mask(torch.tensor([12]), 12)
    torch.testing.assert_close(masked_layer_norm(x, full, w, b), F.layer_norm(x, (12,), w, b, 1e-6))
    widths = torch.tensor([12, 7, 3])
    mask = prefix_mask(widths, 12)
    y = masked_layer_norm(x * mask, mask, w, b)
    for i, k in enumerate(widths.tolist()):
        torch.testing.assert_close(y[i, :, :k], F.layer_norm(x[i, :, :k], (k,), w[:k], b[:k], 1e-6))
        assert torch.equal(y[i, :, k:], torch.zeros(5, 12 - k))  # re-zeroed after the affine step
    torch.testing.assert_close(y, masked_layer_norm_reference(x, mask, w, b), rtol=1e-4, atol=1e-5)


def test_masked_layer_norm_module_without_a_mask_is_nn_layer_norm() -> None:
    norm, ref = MaskedLayerNorm(8), torch.nn.LayerNorm(8, eps=1e-6)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    ref.load_state_dict(norm.state_dict())
    x = torch.randn(2, 3, 8)
    torch.testing.assert_close(norm(x), ref(x))


# ---- the super-network ---------------------------------------------------------------------------------------------
def test_the_largest_subnetwork_is_the_plain_vit_res_with_the_same_weights() -> None:
    net = _supernet()
    plain = ViTRes(net.subnet_config(net.largest_arch())).eval()
    plain.load_state_dict(net.state_dict())  # same keys: strict load
    x = torch.randn(3, 8, 8, 1)
    with torch.no_grad():
        unmasked = net(x)
        with net.using_arch(net.largest_arch()):
            masked = net(x)
        torch.testing.assert_close(unmasked, plain(x))
        torch.testing.assert_close(masked, plain(x), rtol=1e-5, atol=1e-5)


def test_extract_gives_a_network_equal_to_the_masked_supernetwork() -> None:
    net = _supernet()
    x = torch.randn(4, 8, 8, 1)
    for arch in _archs(net, 3):
        sub = net.extract(arch).eval()
        with torch.no_grad(), net.using_arch(arch):
            torch.testing.assert_close(sub(x), net(x), rtol=1e-5, atol=1e-5)
        assert sum(p.numel() for p in sub.parameters()) < sum(p.numel() for p in net.parameters())
        assert sub.config.depths == arch.depths()


def test_extract_with_the_conv_stem_and_two_class_tokens() -> None:
    net = _supernet(stem="conv", patch=2, stem_mid=6, num_cls_tokens=2, img_size=16)
    x = torch.randn(2, 16, 16, 1)
    arch = _archs(net, 1, seed=3)[0]
    with torch.no_grad(), net.using_arch(arch):
        torch.testing.assert_close(net.extract(arch).eval()(x), net(x), rtol=1e-5, atol=1e-5)


def test_per_sample_masks_each_sample_depends_only_on_its_own_architecture() -> None:
    net = _supernet()
    archs = _archs(net, 3, seed=1)
    x = torch.randn(6, 8, 8, 1)
    net.set_sample_archs(archs)  # sample b -> archs[b % 3]
    with torch.no_grad():
        together = net(x)
        net.set_sample_archs(None)
        for b in range(6):
            with net.using_arch(archs[b % 3]):
                torch.testing.assert_close(together[b], net(x[b : b + 1])[0], rtol=1e-5, atol=1e-5)


def test_rewiring_leaves_the_full_width_function_unchanged_and_sorts_by_importance() -> None:
    net = _supernet()
    x = torch.randn(3, 8, 8, 1)
    with torch.no_grad():
        before = net(x)
        perms = net.rewire()
        torch.testing.assert_close(net(x), before, rtol=1e-5, atol=1e-5)
    block = net.stages[0][0]
    for scores in (block.token_mixer.head_importance(), block.channel_mixer.unit_importance()):
        assert torch.all(scores[:-1] >= scores[1:])
    assert {"stages.0.0.token_mixer.qkv.weight", "stages.2.1.channel_mixer.fc2.weight"} <= set(perms)


def test_rewiring_permutes_the_optimizer_moments_with_the_parameters() -> None:
    net = _supernet()
    opt = torch.optim.AdamW(net.parameters())
    net.train()
    F.cross_entropy(net(torch.randn(4, 8, 8, 1)), torch.tensor([0, 1, 2, 3])).backward()
    opt.step()
    fc1 = net.stages[0][0].channel_mixer.fc1.weight
    moment = opt.state[fc1]["exp_avg"].clone()
    perms = net.rewire()
    assert permute_optimizer_state(opt, net, perms) > 0
    dim, index = perms["stages.0.0.channel_mixer.fc1.weight"]
    torch.testing.assert_close(opt.state[fc1]["exp_avg"], moment.index_select(dim, index))


def test_width_warmup_allows_min_1_plus_floor_t_k_minus_1_over_w_options() -> None:
    for k in (2, 4, 7):
        for w in (1, 3, 5, 15):
            for t in range(0, 20):
                assert allowed_options(t, k, w) == min(1 + (t * (k - 1)) // w, k)
    assert allowed_options(0, 5, 0) == 5
    # and the balanced sampler then draws only the largest options, each equally often
    space = SearchSpace(ViTResSuperNetConfig(**SMALL))
    archs = space.sample_balanced(12, lambda g: 2, lambda n: list(np.random.default_rng(0).permutation(n)))
    embeds = [a.embed[0] for a in archs]
    assert sorted(set(embeds)) == [12, 16] and embeds.count(16) == embeds.count(12) == 6


def test_analytic_macs_match_the_measured_count_for_three_random_archs() -> None:
    net = _supernet()
    x = torch.randn(1, 8, 8, 1)
    for arch in _archs(net, 3, seed=2):
        sub = net.extract(arch).eval()
        measured = count_macs(lambda sub=sub: sub(x))
        assert abs(analytic_macs(arch, config=net.config) - measured) <= 0.01 * measured
    assert analytic_macs(net) == count_macs(lambda: net(x))
    arch = _archs(net, 1, seed=5)[0]  # the fast shape-based count is the count of the sub-network's config
    assert analytic_macs(arch, config=net.config) == analytic_macs(net.subnet_config(arch))


def test_the_conformance_supernet_has_room_for_a_half_budget() -> None:
    cfg = ViTResSuperNetConfig(**{k: v for k, v in TINY_SUPERNET.items() if k != "name"})
    space = SearchSpace(cfg)
    assert analytic_macs(space.smallest(), config=cfg) < 0.5 * analytic_macs(space.largest(), config=cfg)
