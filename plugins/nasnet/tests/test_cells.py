"""Cells from their genotype: channel bookkeeping, the stride rule, the TF state indexing, the factorized
reduction's two pixel phases, genotype validation and the random sampler (card: "Tests this plugin must have")."""

from __future__ import annotations

import random

import pytest
import torch
from forwardkit_nasnet.cell import NasNetCell
from forwardkit_nasnet.genotypes import (
    NASNET_A_NORMAL,
    NASNET_A_REDUCTION,
    OPS,
    Block,
    Genotype,
    random_pair,
    sample_genotype,
)
from forwardkit_nasnet.ops import FactorizedReduction, shifted_subsample

import forwardkit


def _cell(genotype: Genotype, f: int = 8, c_in: int = 16, prev: int | None = 16, scale: int = 1) -> NasNetCell:
    torch.manual_seed(0)
    return NasNetCell(genotype, filters=f, in_channels=c_in, prev_channels=prev, prev_scale=scale).eval()


def _op(cell: NasNetCell, block: int, which: int) -> torch.nn.Module:
    """The module of op ``which`` (0: a, 1: b) of ``block``."""
    pair = cell.ops[block]
    assert isinstance(pair, torch.nn.ModuleList)
    return pair[which]


def test_normal_cell_outputs_6f_at_the_same_resolution():
    cell = _cell(NASNET_A_NORMAL, f=8)
    out = cell(torch.randn(2, 16, 6, 10), torch.randn(2, 16, 6, 10))
    assert cell.out_channels == 48 and out.shape == (2, 48, 6, 10)
    # h_{i-1} at twice the resolution goes through the factorized reduction; odd sizes give ceil(H / 2)
    cell = _cell(NASNET_A_NORMAL, f=8, scale=2)
    assert cell(torch.randn(2, 16, 5, 7), torch.randn(2, 16, 10, 14)).shape == (2, 48, 5, 7)


def test_reduction_cell_outputs_4f_at_half_resolution():
    cell = _cell(NASNET_A_REDUCTION, f=8)
    assert cell.out_channels == 32
    assert cell(torch.randn(2, 16, 8, 6), torch.randn(2, 16, 8, 6)).shape == (2, 32, 4, 3)
    assert cell(torch.randn(1, 16, 7, 5), torch.randn(1, 16, 7, 5)).shape == (1, 32, 4, 3)


def test_the_registered_cell_is_channels_last():
    cell = forwardkit.create("model", "nasnet_cell", genotype="nasnet_a_reduction", filters=4, in_channels=6,
                             prev_channels=6, prev_scale=2)
    assert cell(torch.randn(2, 4, 6, 6), torch.randn(2, 8, 12, 6)).shape == (2, 2, 3, 16)


def test_stride_rule_ops_on_internal_states_have_stride_1():
    cell = _cell(NASNET_A_REDUCTION)
    for block, pair in zip(NASNET_A_REDUCTION.blocks, cell.ops, strict=True):
        assert isinstance(pair, torch.nn.ModuleList)
        for (op, idx), module in zip(block.pairs(), pair, strict=True):
            strides = [m.stride for m in module.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.AvgPool2d
                                                                      | torch.nn.MaxPool2d)]
            strides = [s if isinstance(s, int) else max(s) for s in strides]
            if idx < 2:
                assert max(strides) == 2, (op, idx)
            else:  # s5 = identity(s3) + avg3(s2), s6 = sep3(s2) + ...: stride 1 (identity has no module)
                assert all(s == 1 for s in strides), (op, idx)
    # the internal identity s5 = s3 + avg3(s2) stays an identity: s3 is already reduced and F wide
    assert isinstance(_op(cell, 3, 0), torch.nn.Identity)


def test_state_0_is_the_current_input_and_state_1_the_previous():
    # the Normal cell's s6 = sep3(s0) + s0 reads h_i; feeding a different h_{i-1} must leave s6 unchanged
    cell = _cell(NASNET_A_NORMAL, f=8, c_in=8, prev=8)
    h, prev = torch.randn(2, 8, 6, 6), torch.randn(2, 8, 6, 6)
    states: dict[str, torch.Tensor] = {}
    _op(cell, 4, 0).register_forward_hook(lambda m, i, o: states.__setitem__("sep3_s0", i[0]))
    cell(h, prev)
    first = states["sep3_s0"].clone()
    cell(h, torch.randn(2, 8, 6, 6))
    assert torch.equal(states["sep3_s0"], first)
    assert torch.allclose(first, cell.prep0(h))  # s0 = BN(conv1x1(ReLU(h_i)))
    # and with h_{i-1} of the cell's width and resolution, s1 is h_{i-1} itself (TF _reduce_prev_layer)
    assert isinstance(cell.prep1, torch.nn.Identity)


def test_nasnet_a_genotypes_are_the_released_cells():
    n, r = NASNET_A_NORMAL, NASNET_A_REDUCTION
    assert n.blocks[0] == Block(0, "sep_conv_5x5", 1, "sep_conv_3x3")
    assert n.blocks[2] == Block(0, "avg_pool_3x3", 1, "identity")
    assert n.blocks[4] == Block(0, "sep_conv_3x3", 0, "identity")
    assert n.output_states() == (1, 2, 3, 4, 5, 6) and not n.reduction
    assert r.blocks[3] == Block(3, "identity", 2, "avg_pool_3x3")
    assert r.output_states() == (3, 4, 5, 6) and r.reduction
    # the explicit lists differ from the paper's "unused states" rule: s1 and s3 are used but output, s2 is not
    assert 1 in n.used_states() and {3} <= r.used_states() and 2 not in r.output_states()


def test_first_cell_quirk_state_1_is_the_raw_input_brought_to_f_in_the_output():
    # no h_{i-1} (TF: prev_layer None): s1 is h_i itself (C_in channels); concatenated, it is 1x1-conv'd to F
    cell = _cell(NASNET_A_NORMAL, f=8, c_in=24, prev=None)
    assert cell.state_channels[1] == 8 and "1" in cell.fix and cell.out_channels == 48
    assert cell(torch.randn(2, 24, 4, 4)).shape == (2, 48, 4, 4)


def test_factorized_reduction_shape_and_pixel_phases():
    fr = FactorizedReduction(3, 8, 2).eval()
    assert fr(torch.randn(2, 3, 10, 6)).shape == (2, 8, 5, 3)
    assert fr(torch.randn(2, 3, 7, 5)).shape == (2, 8, 4, 3)
    odd = torch.zeros(1, 3, 8, 8)
    odd[:, :, 1::2, 1::2] = torch.rand(1, 3, 4, 4) + 0.5  # non-zero only at odd (row, col)
    p1, p2 = shifted_subsample(odd)
    assert p1.abs().sum() == 0 and (p2 != 0).all()
    c1, c2 = fr.paths(odd)
    assert c1.abs().sum() == 0 and c2.abs().sum() > 0
    even = torch.zeros(1, 3, 8, 8)
    even[:, :, ::2, ::2] = 1.0
    p1, p2 = shifted_subsample(even)
    assert (p1 == 1).all() and p2.abs().sum() == 0


def test_genotype_validation_refers_only_to_earlier_states():
    with pytest.raises(ValueError, match="earlier state"):
        Genotype((Block(0, "identity", 2, "identity"),))  # block 0 makes state 2; it cannot read itself
    with pytest.raises(ValueError, match="earlier state"):
        Genotype((Block(0, "identity", 1, "identity"), Block(4, "identity", 0, "identity")))
    with pytest.raises(ValueError, match="search space"):
        Genotype((Block(0, "conv_5x5", 1, "identity"),))
    with pytest.raises(ValueError, match="combine"):
        Genotype((Block(0, "identity", 1, "identity", "mul"),))
    with pytest.raises(ValueError, match="concat"):
        Genotype((Block(0, "identity", 1, "identity"),), concat=(5,))
    with pytest.raises(ValueError, match="earlier state"):
        forwardkit.create("model", "nasnet_cell", cell={"blocks": [{"in_a": 3, "op_a": "identity"}]})
    Genotype((Block(0, "identity", 1, "identity"), Block(2, "identity", 0, "identity")))


def test_random_sampler_covers_every_op_and_only_earlier_states():
    rng = random.Random(0)
    seen: set[str] = set()
    for _ in range(40):
        g = sample_genotype(rng, reduction=False)
        seen.update(g.ops())
        assert all(b.in_a < 2 + i and b.in_b < 2 + i for i, b in enumerate(g.blocks))
        assert g.output_states() and all(s not in g.used_states() for s in g.output_states())
    assert seen == set(OPS) and len(OPS) == 13
    assert random_pair(7) == random_pair(7) and random_pair(7) != random_pair(8)
    assert {op for g in random_pair(3, ops="reduced8") for op in g.ops()} <= set(random_pair.__globals__["REDUCED8"])


@pytest.mark.parametrize("seed", range(3))
def test_random_cells_build_and_keep_their_channel_bookkeeping(seed):
    normal, reduction = random_pair(seed)
    for g, size in ((normal, (6, 6)), (reduction, (3, 3))):
        cell = _cell(g, f=4, c_in=8, prev=8)
        out = cell(torch.randn(2, 8, 6, 6), torch.randn(2, 8, 6, 6))
        assert out.shape == (2, cell.out_channels, *size)
        expected = sum(4 if i < 2 else 4 * (1 + (g.blocks[i - 2].combine == "concat")) for i in g.output_states())
        assert cell.out_channels == expected
