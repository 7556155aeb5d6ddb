"""The card's tests of the mechanism: block 0 is a TinyViT block, beta = -1e9 removes the cross tokens, the
joint softmax, the cross-token bookkeeping, gradient flow into the merge conv, LSF/beta shapes, the LeViT
bias table, and the two attention backends."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from forwardkit_fcaformer.attention import FcaAttention, fca_attention, fca_attention_reference
from forwardkit_fcaformer.bank import CrossTokenBank, cross_token_count
from forwardkit_fcaformer.bias import LeViTAttentionBias, levit_offset_index
from forwardkit_fcaformer.blocks import FcaBlock
from forwardkit_fcaformer.model import FcaFormer
from forwardkit_fcaformer.presets import OFFICIAL_PARAMS, PUBLISHED_MILLIONS
from forwardkit_fcaformer.stage import FcaStage
from forwardkit_fcaformer.tme import merged_count

#: a hybrid model with a deep stage 3 (15 blocks at 8x8: 4 cross tokens per block, the cap D = 12 reached)
DEEP = {"preset": "custom", "layout": "hybrid", "dims": [8, 8, 16, 16], "depths": [1, 1, 15, 2], "head_dim": 8,
        "stem_strides": [1, 1], "image_size": 32, "in_channels": 1, "num_classes": 3}


def _randomise(module: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial values for the parameters initialised to constants (layer scales, tables, LSF, beta, BN)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith(("scale", "table", "lsf", "cross_bias")) or ".bn." in f".{name}":
                p.copy_(0.5 + 0.3 * torch.randn(p.shape, generator=g) if "bn.weight" in name or "scale" in name
                        else 0.3 * torch.randn(p.shape, generator=g))
        for name, b in module.named_buffers():
            if name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
            elif name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))


def _block(index: int = 0, depth: int = 4, grid: tuple[int, int] = (7, 7), dim: int = 32, **kw) -> FcaBlock:
    torch.manual_seed(index)
    per = merged_count(grid, mode="dwconv", kernel=7, stride=4)
    block = FcaBlock(dim=dim, grid=grid, head_dim=16, n_cross=cross_token_count(index, per, 12),
                     produces=index < depth - 1, merge={"mode": "dwconv", "kernel": 7, "stride": 4}, **kw)
    _randomise(block, index)
    return block.eval()


def _official_index(h: int, w: int) -> torch.Tensor:
    """``attention_bias_idxs`` the way the official code builds it: offsets numbered by first appearance."""
    points = list(itertools.product(range(h), range(w)))
    offsets: dict[tuple[int, int], int] = {}
    idxs = []
    for p1 in points:
        for p2 in points:
            off = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
            offsets.setdefault(off, len(offsets))
            idxs.append(offsets[off])
    return torch.tensor(idxs).view(len(points), len(points))


def _tinyvit_reference(block: FcaBlock, x: torch.Tensor) -> torch.Tensor:
    """A TinyViT-style block written out (eval): attention with the LeViT bias, layer scale, local conv that
    replaces x, FFN with its own LayerNorm after LN2."""
    a, (h, w) = block.attn, block.grid
    b, n, c = x.shape
    heads, d = a.num_heads, c // a.num_heads
    xn = F.layer_norm(x, (c,), a.norm1.weight, a.norm1.bias, a.norm1.eps)
    q, k, v = (xn @ a.qkv.weight.T + a.qkv.bias).reshape(b, n, 3, heads, d).permute(2, 0, 3, 1, 4)
    logits = q @ k.transpose(-2, -1) / math.sqrt(d) + a.rel_bias.table[:, _official_index(h, w)]
    out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c) @ a.proj.weight.T + a.proj.bias
    x = x + block.gamma1.scale * out
    bn = block.local.bn
    fmap = F.conv2d(x.transpose(1, 2).reshape(b, c, h, w), block.local.c.weight, padding=1, groups=c)
    fmap = F.batch_norm(fmap, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    x = fmap.flatten(2).transpose(1, 2)
    m = block.mlp
    y = F.layer_norm(x, (c,), block.norm2.weight, block.norm2.bias, block.norm2.eps)
    y = F.layer_norm(y, (c,), m.norm.weight, m.norm.bias, m.norm.eps)
    y = F.gelu(y @ m.fc1.weight.T + m.fc1.bias) @ m.fc2.weight.T + m.fc2.bias
    return x + block.gamma2.scale * y


@pytest.mark.parametrize("backend", ["sdpa", "reference"])
def test_block_0_equals_a_tinyvit_block(backend: str) -> None:
    block = _block(0, backend=backend)
    assert block.n_cross == 0 and block.attn.lsf is None and block.attn.cross_bias is None
    x = torch.randn(2, 49, 32)
    with torch.no_grad():
        y, s = block(x)
    torch.testing.assert_close(y, _tinyvit_reference(block, x), atol=1e-5, rtol=1e-5)
    assert s is not None and s.shape == (2, 4, 32)  # block 0 of 4 produces ceil(7/4)^2 cross tokens


def test_beta_minus_1e9_makes_block_i_equal_to_the_block_without_cross_tokens() -> None:
    block = _block(3, depth=6)
    assert block.n_cross == 12
    with torch.no_grad():
        block.attn.cross_bias.fill_(-1e9)
        x, cross = torch.randn(2, 49, 32), torch.randn(2, 12, 32)
        with_cross, s1 = block(x, cross)
        without, s2 = block(x, None)
    torch.testing.assert_close(with_cross, without, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(s1, s2, atol=1e-5, rtol=1e-5)


def test_joint_softmax_equals_an_explicit_softmax_over_own_and_cross_keys() -> None:
    g = torch.Generator().manual_seed(0)
    b, h, n, m, d = 2, 3, 9, 5, 8
    q, kx, vx = (torch.randn(b, h, n, d, generator=g) for _ in range(3))
    ks, vs = torch.randn(b, h, m, d, generator=g), torch.randn(b, h, m, d, generator=g)
    bias_x, beta = torch.randn(h, n, n, generator=g), torch.randn(1, h, 1, m, generator=g)
    # by hand: one row at a time, exp over all n + m keys, normalised together
    expected = torch.empty(b, h, n, d)
    for bi, hi, qi in itertools.product(range(b), range(h), range(n)):
        own = torch.stack([q[bi, hi, qi] @ kx[bi, hi, j] / math.sqrt(d) + bias_x[hi, qi, j] for j in range(n)])
        cross = torch.stack([q[bi, hi, qi] @ ks[bi, hi, j] / math.sqrt(d) + beta[0, hi, 0, j] for j in range(m)])
        e = torch.cat([own, cross]).exp()
        p = e / e.sum()
        expected[bi, hi, qi] = p[:n] @ vx[bi, hi] + p[n:] @ vs[bi, hi]
    fused = fca_attention(q, kx, vx, ks, vs, bias_x=bias_x, bias_s=beta)
    ref, weights = fca_attention_reference(q, kx, vx, ks, vs, bias_x=bias_x, bias_s=beta)
    torch.testing.assert_close(fused, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ref, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(b, h, n))
    # without cross tokens both are plain attention with the relative bias
    torch.testing.assert_close(fca_attention(q, kx, vx, bias_x=bias_x),
                               fca_attention_reference(q, kx, vx, bias_x=bias_x)[0], atol=1e-5, rtol=1e-5)


def test_the_module_computes_only_k_and_v_of_the_cross_tokens_with_the_shared_qkv() -> None:
    attn = FcaAttention(dim=16, head_dim=8, grid=(3, 3), n_cross=2, lsf_position="after_norm")
    _randomise(attn)
    x, s = torch.randn(1, 9, 16), torch.randn(1, 2, 16)
    out, weights = attn(x, s, need_weights=True)
    sn = F.layer_norm(s, (16,), attn.cross_norm.weight, attn.cross_norm.bias) * attn.lsf
    _, k_s, v_s = (sn @ attn.qkv.weight.T + attn.qkv.bias).reshape(1, 2, 3, 2, 8).permute(2, 0, 3, 1, 4)
    q, k_x, v_x = (attn.norm1(x) @ attn.qkv.weight.T + attn.qkv.bias).reshape(1, 9, 3, 2, 8).permute(2, 0, 3, 1, 4)
    expected, _ = fca_attention_reference(q, k_x, v_x, k_s, v_s, bias_x=attn.rel_bias(), bias_s=attn.cross_bias)
    torch.testing.assert_close(out, attn.proj(expected.transpose(1, 2).reshape(1, 9, 16)))
    assert weights.shape == (1, 2, 9, 11)
    with pytest.raises(ValueError, match="takes 2 cross tokens"):
        attn(x, torch.randn(1, 3, 16))


def _recorded_cross_counts(model: FcaFormer, x: torch.Tensor) -> dict[tuple[int, int], tuple[int, bool, object]]:
    """Per (stage, block): cross tokens received, whether it produced any, and the cross tensor itself."""
    seen: dict[tuple[int, int], tuple[int, bool, object]] = {}
    handles = []
    for si, stage in model.fca_stages():
        for bi, block in enumerate(stage.blocks):
            def hook(mod, args, out, key=(si, bi)):
                cross = args[1] if len(args) > 1 else None
                seen[key] = (0 if cross is None else cross.shape[1], out[1] is not None, cross)
            handles.append(block.register_forward_hook(hook))
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return seen


def test_cross_token_bookkeeping() -> None:
    model = FcaFormer(**DEEP).eval()
    assert model.grids == [32, 16, 8, 4]
    n_s3, n_s4 = math.ceil(8 / 4) ** 2, math.ceil(4 / 4) ** 2
    first = _recorded_cross_counts(model, torch.randn(2, 32, 32, 1))
    for i in range(15):  # block i receives min(i, 12) * ceil(H/4) * ceil(W/4); every block but the last produces
        count, produced, _ = first[(2, i)]
        assert count == min(i, 12) * n_s3 and produced == (i < 14), i
    assert first[(2, 14)][0] == 48
    assert [first[(3, i)][:2] for i in range(2)] == [(0, True), (n_s4, False)]  # stage 4: its own bank only
    # a new forward (another batch size) starts with an empty bank: the same counts again
    second = _recorded_cross_counts(model, torch.randn(3, 32, 32, 1))
    assert {k: v[:2] for k, v in second.items()} == {k: v[:2] for k, v in first.items()}
    assert second[(3, 1)][2].shape == (3, 1, 16)


def test_stage_4_reads_exactly_the_merge_of_its_own_block_0() -> None:
    model = FcaFormer(**DEEP).eval()
    stage4 = model.stages[3]
    merged = {}

    def keep(mod, args, out) -> None:  # a forward hook that returns None leaves the output alone
        merged["s"] = out[1]

    stage4.blocks[0].register_forward_hook(keep)
    seen = _recorded_cross_counts(model, torch.randn(2, 32, 32, 1))
    torch.testing.assert_close(seen[(3, 1)][2], merged["s"])


def test_bank_reads_the_last_max_depth_sets_in_block_order() -> None:
    bank = CrossTokenBank(max_depth=2)
    assert bank.read() is None and len(bank) == 0
    sets = [torch.full((1, 2, 1), float(i)) for i in range(4)]
    bank.write(sets[0])
    torch.testing.assert_close(bank.read(), sets[0])
    for s in sets[1:]:
        bank.write(s)
    torch.testing.assert_close(bank.read(), torch.cat(sets[2:], dim=1))
    assert cross_token_count(0, 16, 12) == 0 and cross_token_count(13, 16, 12) == 192


def test_gradient_reaches_block_0_merge_conv_only_through_cross_attention() -> None:
    cfg = {**DEEP, "depths": [1, 1, 3, 1], "layer_scale_init": 0.5}
    for backend in ("sdpa", "reference"):
        torch.manual_seed(0)
        model = FcaFormer(**cfg, attention_backend=backend)
        x = torch.randn(2, 32, 32, 1)
        model(x).square().sum().backward()
        weight = model.stages[2].blocks[0].merge.conv.weight
        assert weight.grad is not None and weight.grad.abs().sum() > 0
        model.zero_grad(set_to_none=True)
        with torch.no_grad():  # cross attention disabled: every cross logit at -1e9
            for block in model.stages[2].blocks[1:]:
                block.attn.cross_bias.fill_(-1e9)
        model(x).square().sum().backward()
        assert weight.grad is not None and torch.count_nonzero(weight.grad) == 0, backend
    plain = FcaFormer(**cfg, cross_tokens=False)  # no cross tokens: no merge conv, LSF or beta at all
    names = [n for n, _ in plain.named_parameters()]
    assert not [n for n in names if "merge" in n or "lsf" in n or "cross_" in n]


def test_lsf_and_beta_shapes_and_init() -> None:
    model = FcaFormer(**DEEP)
    blocks = model.stages[2].blocks
    for i, block in enumerate(blocks):
        a = block.attn
        if i == 0:
            assert a.lsf is None and a.cross_bias is None and a.cross_norm is None
            continue
        m = min(i, 12) * 4
        assert a.lsf.shape == (1, m, 1) and a.cross_bias.shape == (1, 2, 1, m)
        assert a.lsf.requires_grad and a.cross_bias.requires_grad
        assert torch.equal(a.lsf, torch.ones_like(a.lsf)) and torch.equal(a.cross_bias, torch.zeros_like(a.cross_bias))
    assert FcaFormer(**DEEP, lsf=False, cross_bias=False).stages[2].blocks[1].attn.lsf is None


def test_lsf_before_norm_is_cancelled_by_the_layer_norm_but_not_after_it() -> None:
    """The official order (LSF, then LN_s) leaves only the eps of the LayerNorm to the scale factors."""
    for position, changes in (("before_norm", False), ("after_norm", True)):
        torch.manual_seed(0)
        attn = FcaAttention(dim=16, head_dim=8, grid=(3, 3), n_cross=4, lsf_position=position)
        x, s = torch.randn(2, 9, 16), torch.randn(2, 4, 16)
        base, _ = attn(x, s)
        with torch.no_grad():
            attn.lsf.mul_(3.0)
        scaled, _ = attn(x, s)
        assert ((scaled - base).abs().max() > 1e-3) == changes, position


def test_levit_bias_table_is_indexed_by_absolute_offsets_and_symmetric() -> None:
    for h, w in [(7, 7), (3, 5)]:
        idx = levit_offset_index((h, w))
        assert torch.equal(idx, _official_index(h, w))  # the official numbering, so its tables load unchanged
        for i, j in [(0, 1), (2, h * w - 1), (w, 1)]:
            dy, dx = abs(i // w - j // w), abs(i % w - j % w)
            assert idx[i, j] == dy * w + dx
        assert torch.equal(idx, idx.T)
        bias = LeViTAttentionBias(grid=(h, w), num_heads=3)
        assert bias.table.shape == (3, h * w) and not bias.table.any()
        with torch.no_grad():
            bias.table.normal_()
        assert torch.equal(bias(), bias().transpose(1, 2))
        assert "index" not in bias.state_dict()


def test_merge_counts_and_modes() -> None:
    assert merged_count((14, 14), mode="dwconv", kernel=7, stride=4) == 16
    assert merged_count((7, 7), mode="avgpool", kernel=7, stride=4) == 4
    assert merged_count((4, 4), mode="dwconv", kernel=7, stride=4) == 1
    assert merged_count((5, 6), mode="none", kernel=7, stride=4) == 30
    for mode in ("dwconv", "avgpool", "none"):
        stage = FcaStage(dim=16, depth=3, grid=(5, 5), head_dim=8, drop_paths=[0.0] * 3,
                         merge={"mode": mode, "kernel": 7, "stride": 4})
        n = merged_count((5, 5), mode=mode, kernel=7, stride=4)
        assert [b.n_cross for b in stage.blocks] == [0, n, 2 * n]
        assert stage(torch.randn(2, 25, 16)).shape == (2, 25, 16)
        assert (stage.blocks[0].merge.conv is not None) == (mode == "dwconv")


@pytest.mark.parametrize("preset", ["tiny", "fcaformer_l0"])
def test_both_attention_backends_compute_the_same_model(preset: str) -> None:
    cfg = {"preset": preset, "num_classes": 5} if preset == "tiny" else {
        "preset": preset, "image_size": 64, "dims": [32], "depths": [4], "head_dim": 16, "num_classes": 5}
    torch.manual_seed(0)
    a = FcaFormer(**cfg).eval()
    b = FcaFormer(**cfg, attention_backend="reference").eval()
    _randomise(a)
    b.load_state_dict(a.state_dict())
    x = a.example_batch(2)["x"]
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x), atol=1e-5, rtol=1e-5)
        logits, weights = a.forward_with_weights(x)
    torch.testing.assert_close(logits, a(x), atol=1e-5, rtol=1e-5)
    assert len(weights) == len(a.fca_stages())


def test_double_layer_norm_switch_and_config_errors() -> None:
    assert FcaFormer(preset="tiny").stages[2].blocks[0].mlp.norm.weight.shape == (48,)
    assert isinstance(FcaFormer(preset="tiny", double_ln_in_mlp=False).stages[2].blocks[0].mlp.norm, torch.nn.Identity)
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="head_dim=20 does not divide"):
        FcaFormer.Config(preset="tiny", head_dim=20)
    with pytest.raises(ValidationError, match="patch_size"):
        FcaFormer.Config(preset="custom", layout="plain", dims=[16], depths=[2], head_dim=8, image_size=16)
    with pytest.raises(ValidationError, match="odd"):
        FcaFormer.Config(merge_kernel=4)
    with pytest.raises(ValueError, match=r"built for \(B, 28, 28, C\)"):
        FcaFormer(preset="tiny", in_channels=1)(torch.randn(1, 32, 32, 1))


@pytest.mark.parametrize("preset", sorted(OFFICIAL_PARAMS))
def test_preset_parameters_match_the_official_code(preset: str) -> None:
    """224 px, 1000 classes. Source: hkzhang-git/FcaFormer image_classification/models/fcaformer.py
    (``fcaformer_l1..l4``), counted on the official code by the spec card's author (papers/fcaformer.md: L1
    6,187,560; L2 16,275,870; L3 27,894,484; L4 65,638,204; the code comments round them to 6.2M / 16.3M /
    27.9M / 65.6M). Card tolerance 0.1%; the count here is exact. Built on the meta device (no memory, no init)."""
    with torch.device("meta"):
        model = FcaFormer(preset=preset)
    n = sum(p.numel() for p in model.parameters())
    assert abs(n - OFFICIAL_PARAMS[preset]) <= 1e-3 * OFFICIAL_PARAMS[preset]
    assert n == OFFICIAL_PARAMS[preset]
    assert round(n / 1e6, 1) == PUBLISHED_MILLIONS.get(preset, round(n / 1e6, 1))


def test_plain_l0_matches_the_readme_size_at_its_rounding() -> None:
    """FcaFormer-L0 has no official code; the README lists 5.9M (hkzhang-git/FcaFormer README.md, ImageNet table)."""
    with torch.device("meta"):
        model = FcaFormer(preset="fcaformer_l0")
    assert model.grids == [14] and [b.n_cross for b in model.stages[0].blocks] == [16 * min(i, 12) for i in range(12)]
    n = sum(p.numel() for p in model.parameters())
    assert n == 5_870_584 and round(n / 1e6, 1) == PUBLISHED_MILLIONS["fcaformer_l0"]
