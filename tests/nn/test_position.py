"""forwardkit.nn.position: sinusoidal encodings (the paper's formula), learned embeddings, relative bias."""

from __future__ import annotations

import math

import pytest
import torch

from forwardkit.nn import (
    LearnedPositionEmbedding,
    RelativePositionBias,
    SinusoidalPositionEncoding,
    grid_coordinates,
    relative_position_index,
    sinusoidal_position_encoding,
)


def test_sinusoidal_follows_the_paper_formula():
    pe = sinusoidal_position_encoding((10,), 8, dtype=torch.float64)
    for pos in (0, 3, 9):
        for i in range(4):
            angle = pos / 10000 ** (2 * i / 8)
            assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle))
            assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle))


def test_sinusoidal_grids_split_the_channels_per_axis():
    pe = sinusoidal_position_encoding((3, 5), 8)
    assert pe.shape == (3, 5, 8)
    rows, cols = sinusoidal_position_encoding((3,), 4), sinusoidal_position_encoding((5,), 4)
    torch.testing.assert_close(pe[2, 4], torch.cat([rows[2], cols[4]]))
    with pytest.raises(ValueError, match="multiple of"):
        sinusoidal_position_encoding((3, 5), 6)
    module = SinusoidalPositionEncoding(dim=8)
    x = torch.randn(2, 3, 5, 8)
    torch.testing.assert_close(module(x), x + pe)
    assert list(module.state_dict()) == []


def test_learned_position_embedding():
    torch.manual_seed(0)
    emb = LearnedPositionEmbedding(shape=(4, 4), dim=6)
    assert emb.weight.shape == (4, 4, 6) and list(emb.state_dict()) == ["weight"]
    assert float(emb.weight.detach().abs().max()) <= 0.04 + 1e-6  # truncated at 2 std
    x = torch.randn(2, 4, 4, 6)
    torch.testing.assert_close(emb(x), x + emb.weight)
    with pytest.raises(ValueError, match="expected tokens"):
        emb(torch.randn(2, 5, 4, 6))


@pytest.mark.parametrize("spatial", [(5,), (3, 4), (2, 3, 2)])
def test_relative_index_depends_only_on_the_offset(spatial):
    index = relative_position_index(spatial)
    coords = grid_coordinates(spatial)
    offsets = coords[:, None, :] - coords[None, :, :]
    n = coords.shape[0]
    seen: dict[tuple[int, ...], int] = {}
    for i in range(n):
        for j in range(n):
            key = tuple(offsets[i, j].tolist())
            assert seen.setdefault(key, int(index[i, j])) == int(index[i, j])
    assert len(set(seen.values())) == len(seen) == math.prod(2 * g - 1 for g in spatial)
    assert int(index.min()) == 0 and int(index.max()) == math.prod(2 * g - 1 for g in spatial) - 1


def test_relative_position_bias_reads_the_table():
    torch.manual_seed(0)
    bias = RelativePositionBias(spatial=(3, 3), num_heads=2)
    assert bias.table.shape == (25, 2) and list(bias.state_dict()) == ["table"]
    out = bias()
    assert out.shape == (2, 9, 9)
    index = relative_position_index((3, 3))
    torch.testing.assert_close(out[1, 4, 0], bias.table[index[4, 0], 1])
    # same offset, same bias: token (1, 1) -> (0, 0) and token (2, 2) -> (1, 1)
    assert out[0, 4, 0] == out[0, 8, 4]
