"""Tests of the strided halo downsampling and the HaloNet model (the kit runs on ``model/halonet`` through
``test_halonet.py::test_conformance``; ``HaloDownsample`` is not registered, so its kit run is here)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from forwardkit_halonet.attention import attention_parameters, halo_attention, halo_attention_reference
from forwardkit_halonet.blocks import BottleneckBlock, HaloBlock
from forwardkit_halonet.downsample import HaloDownsample
from forwardkit_halonet.model import HaloNet, parameter_count
from forwardkit_halonet.presets import PRESETS, PUBLISHED_PARAMS, TIMM_PARAMS
from forwardkit_halonet.timm_compat import convert_timm_state_dict

import forwardkit


def _down(**kw):
    torch.manual_seed(0)
    m = HaloDownsample(**{"dim": 8, "num_heads": 2, "block_size": 4, "halo_size": 1, **kw})
    with torch.no_grad():
        for t in m.rel_tables:
            t.normal_()
    return m


def _stride1(m, x):
    """The same layer at stride 1 (same weights), without the output projection."""
    cfg = m.config
    p = {**attention_parameters(m), "proj_weight": None, "proj_bias": None}
    return halo_attention(x, **p, num_heads=cfg.num_heads, dim_head=m.dk, block_size=cfg.block_size,
                          halo_size=cfg.halo_size, mask_padding=cfg.mask_padding)


def test_halo_downsample_conformance(forwardkit_check):
    forwardkit_check(HaloDownsample)


@pytest.mark.parametrize("grid", [(8, 12), (9, 10)])
def test_strided_queries_halve_the_grid_and_equal_stride1_attention_subsampled(grid):
    m = _down()
    x = torch.randn(2, *grid, 8)
    y = m(x)
    assert y.shape == (2, (grid[0] + 1) // 2, (grid[1] + 1) // 2, 8) and m.strided
    torch.testing.assert_close(y, _stride1(m, x)[:, ::2, ::2], atol=1e-5, rtol=1e-5)


def test_avg_down_and_odd_blocks_equal_stride1_attention_then_2x2_average_pooling():
    x = torch.randn(2, 8, 12, 8)
    for m in (_down(avg_down=True), _down(block_size=3, out_proj=True)):
        assert not m.strided
        pooled = F.avg_pool2d(_stride1(m, x).permute(0, 3, 1, 2), 2, 2).permute(0, 2, 3, 1)
        if m.proj is not None:
            pooled = m.proj(pooled)
        torch.testing.assert_close(m(x), pooled, atol=1e-5, rtol=1e-5)
    assert _down(avg_down=True)(torch.randn(1, 9, 9, 8)).shape == (1, 5, 5, 8)   # odd grid: the shortcut's size


@pytest.mark.parametrize("query_offsets", ["pixel", "block"])
def test_strided_path_matches_the_block_loop(query_offsets):
    m = _down(query_offsets=query_offsets, qkv_bias=True, mask_padding=True)
    x = torch.randn(2, 8, 12, 8)
    ref = halo_attention_reference(x, **attention_parameters(m), num_heads=2, dim_head=m.dk, block_size=4,
                                   halo_size=1, mask_padding=True, query_stride=2, query_offsets=query_offsets)
    torch.testing.assert_close(m(x), ref, atol=1e-5, rtol=1e-5)
    if query_offsets == "block":    # timm's offsets are a different function once the tables are non-zero
        assert (m(x) - _down(qkv_bias=True, mask_padding=True)(x)).abs().max() > 1e-3


def test_tiny_halonet_runs_with_halo_blocks_where_the_preset_puts_them():
    torch.manual_seed(0)
    model = forwardkit.create("model", "halonet", preset="tiny", num_classes=10, in_channels=1)
    kinds = [[type(b).__name__ for b in s] for s in model.stages]
    assert kinds == [["BottleneckBlock"], ["BottleneckBlock"], ["BottleneckBlock", "HaloBlock"], ["HaloBlock"]]
    assert isinstance(model.stages[3][0].self_attn, HaloDownsample)
    batch = model.example_batch(3)
    assert model(batch["x"]).shape == (3, 10)
    assert model.forward_features(batch["x"]).shape == (3, 128, 2, 2)         # 28 -> 14 -> 14, 7, 4, 2
    pure = HaloNet(preset="tiny", layout="all", num_classes=0)
    assert all(isinstance(b, HaloBlock) for s in pure.stages for b in s)
    assert pure(torch.randn(2, 28, 28, 3)).shape == (2, 128)
    with pytest.raises(ValueError, match="expects images"):
        model(torch.randn(2, 1, 28, 28))


def test_zero_init_last_starts_every_block_as_its_shortcut():
    model = HaloNet(preset="tiny")
    blocks = [b for s in model.stages for b in s]
    assert all(isinstance(b, BottleneckBlock | HaloBlock) for b in blocks)
    assert all(torch.all(b.conv3_1x1.bn.weight == 0) for b in blocks)


def test_preset_parameter_counts_equal_timm_and_the_published_numbers():
    """timm 1.0.31 ``create_model(name)`` (1000 classes) counts, and the model cards' Params (M)."""
    with torch.device("meta"):
        counts = {name: parameter_count(HaloNet(preset=name)) for name in TIMM_PARAMS}
    assert counts == TIMM_PARAMS
    assert {n: round(c / 1e6, 1) for n, c in counts.items()} == {n: p / 1e6 for n, p in PUBLISHED_PARAMS.items()}
    assert set(PRESETS) == {*TIMM_PARAMS, "tiny"}


def _timm_halo_reference(x, q_w, kv_w, height_rel, width_rel, *, heads, dk, block, halo):
    """timm's HaloAttn(stride=2) semantics written out: NCHW x, q conv at stride 2, k/v interleaved per head,
    relative logits ``q_i . rel[j - i + w - 1]`` with i the query's index in the (b/2)^2 sub-block."""
    batch, _, height, width = x.shape
    w, bq = block + 2 * halo, block // 2
    q = F.conv2d(x, q_w, stride=2)
    kv = F.pad(F.conv2d(x, kv_w), [halo] * 4)
    out = torch.zeros(batch, q_w.shape[0] // dk * (kv_w.shape[0] // heads - dk), height // 2, width // 2)
    dv = kv_w.shape[0] // heads - dk
    for by in range(0, height, block):
        for bx in range(0, width, block):
            qb = q[:, :, by // 2:by // 2 + bq, bx // 2:bx // 2 + bq].reshape(batch, heads, dk, bq * bq)
            kvb = kv[:, :, by:by + w, bx:bx + w].reshape(batch, heads, dk + dv, w * w)
            kb, vb = kvb[:, :, :dk], kvb[:, :, dk:]
            logits = torch.einsum("bhdi,bhdj->bhij", qb, kb) * dk**-0.5
            for i in range(bq * bq):
                qy, qx = divmod(i, bq)
                for j in range(w * w):
                    ky, kx = divmod(j, w)
                    rel = height_rel[ky - qy + w - 1] + width_rel[kx - qx + w - 1]
                    logits[:, :, i, j] += torch.einsum("bhd,d->bh", qb[..., i], rel)
            ob = torch.einsum("bhij,bhdj->bhdi", logits.softmax(-1), vb)
            out[:, :, by // 2:by // 2 + bq, bx // 2:bx // 2 + bq] = ob.reshape(batch, -1, bq, bq)
    return out


def test_timm_weights_convert_to_the_same_function():
    """A timm-layout strided halo layer (q, per-head interleaved kv, corner-indexed tables) converted with
    ``convert_timm_state_dict`` and run with ``query_offsets='block'`` equals timm's formula."""
    torch.manual_seed(0)
    model = HaloNet(preset="tiny", query_offsets="block")
    attn = model.stages[3][0].self_attn                     # mid 32 channels, 2 heads, b = 4, h = 1
    prefix, c, heads, dk, w = "stages.3.0.self_attn.", 32, 2, attn.dk, 4 + 2
    timm_sd = {k: v for k, v in model.state_dict().items() if not k.startswith(prefix)}
    q_w, kv_w = torch.randn(heads * dk, c, 1, 1) * c**-0.5, torch.randn(heads * (dk + attn.dv), c, 1, 1) * c**-0.5
    rel_h, rel_w = torch.randn(2 * w - 1, dk), torch.randn(2 * w - 1, dk)
    timm_sd.update({prefix + "q.weight": q_w, prefix + "kv.weight": kv_w, prefix + "pos_embed.height_rel": rel_h,
                    prefix + "pos_embed.width_rel": rel_w})
    model.load_state_dict(convert_timm_state_dict(timm_sd, model))
    x = torch.randn(2, c, 8, 8)
    ref = _timm_halo_reference(x, q_w, kv_w, rel_h, rel_w, heads=heads, dk=dk, block=4, halo=1)
    torch.testing.assert_close(attn(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), ref, atol=1e-5, rtol=1e-5)


def test_outputs_equal_timm_under_copied_weights():
    """Only where timm is installed (a test-only extra this repository does not carry: it needs torchvision)."""
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    ref = timm.create_model("halonet26t", num_classes=10).eval()
    with torch.no_grad():                      # non-zero last BN scales and tables, so every branch counts
        for name, p in ref.named_parameters():
            if p.dim() == 1:
                p.normal_(1.0 if name.endswith("weight") else 0.0, 0.1)
            elif "pos_embed" in name:
                p.normal_(0.0, 0.1)
    mine = HaloNet(preset="halonet26t", num_classes=10, query_offsets="block").eval()
    mine.load_state_dict(convert_timm_state_dict(ref.state_dict(), mine))
    x = torch.randn(1, 3, 256, 256)           # timm needs every halo grid divisible by b = 8
    with torch.no_grad():
        torch.testing.assert_close(mine(x.permute(0, 2, 3, 1)), ref(x), atol=1e-4, rtol=1e-4)
