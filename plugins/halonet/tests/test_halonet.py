"""Tests of the halonet plugin: the conformance kit, the spec card's mechanism tests, the spec and the example."""

from __future__ import annotations

import pathlib

import pytest
import torch
import torch.nn.functional as F
import yaml
from forwardkit_halonet.attention import (
    halo_attention,
    halo_attention_reference,
    halo_offsets,
    relative_logits,
)

import forwardkit
from forwardkit.config import validate_experiment
from forwardkit.reproduce.spec import load_spec
from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="halonet")

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _halo(**kw):
    torch.manual_seed(0)
    return forwardkit.create("token_mixer", "halo_attention", **{"dim": 8, "num_heads": 2, "dim_head": 4, **kw})


def _args(m):
    return m._params(), {"num_heads": m.config.num_heads, "dim_head": m.dk, "block_size": m.config.block_size,
                         "halo_size": m.config.halo_size, "scale_pos_embed": m.config.scale_pos_embed,
                         "mask_padding": m.config.mask_padding}


def _randomise_tables(m):
    with torch.no_grad():
        for t in m.rel_tables:
            t.normal_()


def test_locality_gradient_is_zero_outside_the_haloed_window():
    b, h = 4, 1
    m = _halo(block_size=b, halo_size=h)
    _randomise_tables(m)
    x = torch.randn(1, 12, 12, 8, requires_grad=True)
    y = m(x)
    y[0, 4:8, 4:8].sum().backward()                  # the centre block (rows/cols 4..7)
    g = x.grad[0].abs().sum(-1)
    inside = torch.zeros(12, 12, dtype=torch.bool)
    inside[4 - h:8 + h, 4 - h:8 + h] = True
    assert torch.all(g[~inside] == 0)
    assert torch.all(g[inside] > 0)


def test_one_block_without_halo_is_global_multi_head_attention():
    m = _halo(block_size=6, halo_size=0, rel_pos=False, qkv_bias=True)
    x = torch.randn(2, 6, 6, 8)
    qkv = F.linear(x.reshape(2, 36, 8), m.qkv.weight, m.qkv.bias)
    q, k, v = (t.reshape(2, 36, 2, 4).transpose(1, 2) for t in qkv.split(8, dim=-1))
    ref = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(2, 6, 6, 8)
    ref = F.linear(ref, m.proj.weight, m.proj.bias)
    torch.testing.assert_close(m(x), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mask_padding", [False, True])
@pytest.mark.parametrize("scale_pos_embed", [False, True])
def test_vectorised_unfold_path_matches_the_block_loop(mask_padding, scale_pos_embed):
    m = _halo(block_size=3, halo_size=1, mask_padding=mask_padding, scale_pos_embed=scale_pos_embed, qkv_bias=True)
    _randomise_tables(m)
    x = torch.randn(2, 6, 9, 8)
    params, kw = _args(m)
    torch.testing.assert_close(halo_attention(x, **params, **kw), halo_attention_reference(x, **params, **kw),
                               atol=1e-5, rtol=1e-5)


def test_padding_mask_zeroes_padded_keys_and_rows_sum_to_one():
    b, h = 4, 2
    m = _halo(block_size=b, halo_size=h, mask_padding=True)
    x = torch.randn(1, 8, 8, 8)
    params, kw = _args(m)
    _, attn = halo_attention(x, **params, **kw, return_attn=True)      # (B, G, n, b^2, w^2)
    w = b + 2 * h
    valid = F.pad(torch.ones(8, 8), (h, h, h, h))
    for g, (by, bx) in enumerate([(0, 0), (0, 4), (4, 0), (4, 4)]):
        keep = valid[by:by + w, bx:bx + w].reshape(-1).bool()
        assert torch.all(attn[0, g, ..., ~keep] == 0)
        torch.testing.assert_close(attn[0, g, ..., keep].sum(-1), torch.ones(2, b * b))
    # unmasked (timm): zero k/v at the border still take probability mass
    m2 = _halo(block_size=b, halo_size=h, mask_padding=False)
    params, kw = _args(m2)
    _, attn2 = halo_attention(x, **params, **kw, return_attn=True)
    keep = valid[0:w, 0:w].reshape(-1).bool()
    assert torch.all(attn2[0, 0, ..., ~keep] > 0)
    torch.testing.assert_close(halo_attention(x, **params, **kw), halo_attention_reference(x, **params, **kw),
                               atol=1e-5, rtol=1e-5)


def test_relative_logits_equal_explicit_indexing():
    b, h, d = 3, 2, 5
    w = b + 2 * h
    q = torch.randn(2, b * b, d)
    rh, rw = torch.randn(2 * w - 1, d), torch.randn(2 * w - 1, d)
    fast = relative_logits(q, [rh, rw], halo_offsets(b, h, 2, q.device))
    slow = torch.empty(2, b * b, w * w)
    for i in range(b * b):
        qy, qx = divmod(i, b)
        for j in range(w * w):
            ky, kx = divmod(j, w)
            dy, dx = (ky - h) - qy, (kx - h) - qx                    # key minus query, in pixels
            slow[:, i, j] = q[:, i] @ rh[dy + w - 1] + q[:, i] @ rw[dx + w - 1]
    torch.testing.assert_close(fast, slow)


def test_shifting_by_one_block_shifts_the_output():
    b, h = 4, 1
    m = _halo(block_size=b, halo_size=h)
    _randomise_tables(m)
    x = torch.randn(1, 16, 16, 8)
    shifted = torch.roll(x, shifts=(b, b), dims=(1, 2))
    y, ys = m(x), m(shifted)
    # compare blocks whose haloed windows stay inside the image in both cases
    torch.testing.assert_close(ys[:, 8:12, 8:12], y[:, 4:8, 4:8], atol=1e-5, rtol=1e-5)


def test_pad_to_block_crops_the_padded_computation():
    m = _halo(block_size=4, halo_size=1)
    x = torch.randn(2, 10, 10, 8)
    y = m(x)
    assert y.shape == (2, 10, 10, 8)
    torch.testing.assert_close(y, m(F.pad(x, (0, 0, 0, 2, 0, 2)))[:, :10, :10], atol=1e-5, rtol=1e-5)
    strict = _halo(block_size=4, halo_size=1, pad_to_block=False)
    assert not strict.supports((10, 10)) and strict.supports((12, 12))
    with pytest.raises(ValueError, match="block_size"):
        strict(x)


def test_causal_rank1_ignores_the_future():
    m = _halo(block_size=4, halo_size=2, rank=1, causal=True)
    x = torch.randn(1, 12, 8, requires_grad=True)
    m(x)[0, 5].sum().backward()
    assert torch.all(x.grad[0, 6:] == 0) and torch.all(x.grad[0, 2:6].abs().sum(-1) > 0)
    assert not m.supports((4, 4))


def test_sasa_is_local_and_centred():
    torch.manual_seed(0)
    m = forwardkit.create("token_mixer", "sasa_attention", dim=8, num_heads=2, kernel_size=3)
    x = torch.randn(1, 7, 7, 8, requires_grad=True)
    m(x)[0, 3, 3].sum().backward()
    g = x.grad[0].abs().sum(-1)
    inside = torch.zeros(7, 7, dtype=torch.bool)
    inside[2:5, 2:5] = True
    assert torch.all(g[inside] > 0) and torch.all(g[~inside] == 0)


@pytest.mark.parametrize("bad", [{"num_heads": 3}, {"block_size": 0}, {"halo_size": -1}])
def test_bad_config_names_the_field(bad):
    with pytest.raises(Exception, match=r"num_heads|block_size|halo_size"):
        forwardkit.create("token_mixer", "halo_attention", dim=8, **bad)
    with pytest.raises(Exception, match="kernel_size"):
        forwardkit.create("token_mixer", "sasa_attention", dim=8, kernel_size=4)


def test_reproduction_spec_and_example_validate():
    spec = load_spec(forwardkit.get_registry().reproductions["halonet"])
    assert spec.seeds == [0, 1, 2] and "56x56" in spec.pass_bar
    for name, arm in spec.arms.items():
        if "program" not in arm:
            validate_experiment(spec.experiment(name, 0))
    for path in sorted((ROOT / "examples").glob("halonet-*.yaml")):
        validate_experiment(yaml.safe_load(path.read_text()))


def test_cost_program_runs_small():
    from forwardkit_halonet.cost import cost_figures

    figs = cost_figures({"grids": [[6, 8, 1, 1]], "block": 3, "halo": 1, "repeats": 1, "warmup": 0,
                         "global_max_grid": 6}, seed=0, smoke=True)
    assert figs["halo_over_sasa_6"] > 0 and "halo_over_global_6" in figs
