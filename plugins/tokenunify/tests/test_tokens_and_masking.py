"""The token grid and the objectives' masks (card tests: patchify round trip and raster order, random masking,
prefix masking and the next-token target)."""

from __future__ import annotations

import pytest
import torch
from forwardkit_tokenunify.masking import (
    draw_prefix_lengths,
    fill_tokens,
    hidden_count,
    next_token_target,
    prefix_inputs,
    prefix_mask,
    random_inputs,
    random_token_mask,
    random_token_mask_reference,
)
from forwardkit_tokenunify.tokens import num_tokens, patchify, token_grid, token_position, unpatchify

OFFICIAL = (16, 160, 160)
OFFICIAL_PATCH = (4, 16, 16)


def test_official_volume_round_trips_with_400_raster_tokens():
    x = torch.randn(1, *OFFICIAL, 1)
    tokens = patchify(x, OFFICIAL_PATCH)
    assert tokens.shape == (1, 400, 4 * 16 * 16, 1) and num_tokens(OFFICIAL, OFFICIAL_PATCH) == 400
    assert torch.equal(unpatchify(tokens, OFFICIAL, OFFICIAL_PATCH), x)
    grid = token_grid(OFFICIAL, OFFICIAL_PATCH)
    assert grid == (4, 10, 10)
    for t in (0, 1, 9, 10, 99, 100, 123, 399):
        pos = token_position(t, grid)
        assert pos == (t // 100, (t // 10) % 10, t % 10)
        d, h, w = pos
        block = x[0, 4 * d:4 * d + 4, 16 * h:16 * h + 16, 16 * w:16 * w + 16, :]
        assert torch.equal(tokens[0, t], block.reshape(-1, 1))


def test_bad_patch_names_the_axis():
    with pytest.raises(ValueError, match="axis 1 of size 30"):
        token_grid((32, 30), (4, 4))


@pytest.mark.parametrize("ratio", [0.4, 0.25, 0.77])
def test_random_masking_changes_exactly_int_k_r_tokens(ratio):
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 32, 32, 1) + 0.5  # no zeros in the input
    k_tokens = 64
    masked, mask = random_inputs(x, (4, 4), ratio, ratio, fill="zero", generator=gen)
    assert (mask.sum(1) == hidden_count(k_tokens, ratio)).all() and hidden_count(64, 0.4) == 25
    tok_in, tok_out = patchify(x, (4, 4)), patchify(masked, (4, 4))
    assert (tok_out[mask] == 0).all()
    assert torch.equal(tok_out[~mask], tok_in[~mask])
    changed = (tok_out != tok_in).flatten(2).any(-1)
    assert torch.equal(changed, mask)


def test_uniform_ratio_is_drawn_per_sample_and_noise_fill_is_not_zero():
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(64, 16, 16, 1)
    masked, mask = random_inputs(x, (4, 4), 0.2, 0.8, fill="noise", generator=gen)
    counts = mask.sum(1)
    assert counts.min() >= 3 and counts.max() <= 12 and len(set(counts.tolist())) > 3
    assert (patchify(masked, (4, 4))[mask] < 0).any()  # N(0, 1) noise, not [0, 1] pixels


def test_vectorised_random_mask_equals_the_per_sample_loop():
    gen = torch.Generator().manual_seed(2)
    scores = torch.rand(5, 64, generator=gen)
    ratios = torch.tensor([0.4, 0.2, 0.5, 0.8, 0.33])
    fast = random_token_mask(5, 64, ratios, scores=scores)
    assert torch.equal(fast, random_token_mask_reference(5, 64, ratios, scores))


def test_prefix_masking_keeps_the_prefix_bit_identical_and_fills_the_rest():
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(8, 32, 32, 1) + 0.5
    masked, k = prefix_inputs(x, (4, 4), fill="zero", generator=gen)
    t_in, t_out = patchify(x, (4, 4)), patchify(masked, (4, 4))
    for b in range(8):
        kb = int(k[b])
        assert torch.equal(t_out[b, :kb], t_in[b, :kb])
        assert (t_out[b, kb:] == 0).all()
    target = next_token_target(x, k, (4, 4))
    assert target.shape == (8, 4, 4, 1)
    for b in range(8):
        assert torch.equal(target[b].reshape(-1, 1), t_in[b, int(k[b])])


def test_k_is_never_zero_nor_k():
    k = draw_prefix_lengths(20_000, 5, torch.Generator().manual_seed(4))
    assert k.min() == 1 and k.max() == 4
    assert set(k.tolist()) == {1, 2, 3, 4}
    with pytest.raises(ValueError, match="at least 2 tokens"):
        draw_prefix_lengths(2, 1)


def test_fill_tokens_touches_only_the_masked_voxels_in_3d():
    x = torch.rand(2, 8, 16, 16, 1) + 0.5
    mask = prefix_mask(torch.tensor([3, 7]), num_tokens((8, 16, 16), (4, 4, 4)))
    out = fill_tokens(x, mask, (4, 4, 4), fill="zero")
    assert (patchify(out, (4, 4, 4))[mask] == 0).all()
    assert torch.equal(patchify(out, (4, 4, 4))[~mask], patchify(x, (4, 4, 4))[~mask])
