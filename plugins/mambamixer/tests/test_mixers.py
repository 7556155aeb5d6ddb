"""The selective mixers: causality of the unidirectional token mixer, non-causality and flip-equivariance of the
bidirectional variate mixer, the cross-scan orders, the Mamba-block special case, the channel mixers' contracts."""

from __future__ import annotations

import itertools

import pytest
import torch
from forwardkit_mambamixer.channel_mixer import SelectiveChannelMixer, SelectiveChannelMixerPaper
from forwardkit_mambamixer.cross_scan import scan, unscan
from forwardkit_mambamixer.s6 import S6Block
from forwardkit_mambamixer.token_mixer import SelectiveTokenMixer
from forwardkit_mambamixer.variate_mixer import SelectiveVariateMixer

SMALL = {"d_state": 4, "expand": 1}


def seeded(cls, **fields):
    torch.manual_seed(0)
    return cls(**fields).eval()


@pytest.mark.parametrize("rank", [1, 2])
def test_the_unidirectional_token_mixer_is_causal(rank):
    mixer = seeded(SelectiveTokenMixer, dim=6, causal=True, spatial_rank=rank, **SMALL)
    assert mixer.causal
    x = torch.randn(2, *((9,) if rank == 1 else (3, 4)), 6)
    n = x[0, ..., 0].numel()
    t = 4
    changed = x.reshape(2, n, 6).clone()
    changed[:, t + 1 :] += torch.randn_like(changed[:, t + 1 :])  # perturb every position after t
    with torch.no_grad():
        before = mixer(x).reshape(2, n, 6)
        after = mixer(changed.reshape(x.shape)).reshape(2, n, 6)
    assert torch.equal(before[:, : t + 1], after[:, : t + 1])
    assert not torch.allclose(before[:, t + 1 :], after[:, t + 1 :])
    # gradient check: d out[t] / d x[s] is zero for every s > t
    xg = x.clone().requires_grad_()
    mixer(xg).reshape(2, n, 6)[:, t].sum().backward()
    grad = xg.grad.reshape(2, n, 6)
    assert torch.count_nonzero(grad[:, t + 1 :]) == 0 and torch.count_nonzero(grad[:, : t + 1]) > 0


def test_the_default_sequence_mixer_is_the_causal_mamba_block():
    """Paper §3.2: the unidirectional Selective Token Mixer with a 1-D conv is the Mamba block."""
    block = seeded(S6Block, dim=8, d_state=4)
    mixer = SelectiveTokenMixer(dim=8, d_state=4).eval()
    assert mixer.causal and mixer.directions == 1
    mixer.in_proj.load_state_dict(block.in_proj.state_dict())
    mixer.out_proj.load_state_dict(block.out_proj.state_dict())
    mixer.branches[0].load_state_dict(block.branch.state_dict())
    x = torch.randn(3, 10, 8)
    with torch.no_grad():
        assert torch.equal(mixer(x), block(x))


def test_multi_directional_mixers_are_not_causal():
    for fields in ({"spatial_rank": 1, "directions": 2}, {"spatial_rank": 2}, {"spatial_rank": 2, "directions": 1}):
        mixer = seeded(SelectiveTokenMixer, dim=6, **SMALL, **fields)
        assert not mixer.causal
        x = torch.randn(1, *((8,) if fields["spatial_rank"] == 1 else (3, 4)), 6)
        changed = x.clone()
        changed.view(1, -1, 6)[:, 2] += 1.0  # only flattened position 2
        with torch.no_grad():
            earlier = (mixer(x) - mixer(changed)).reshape(1, -1, 6)[:, 1]
        assert earlier.abs().max() > 1e-4, fields  # position 1 sees position 2


@pytest.mark.parametrize("spatial", [(7,), (3, 5), (2, 3, 4)])
def test_every_scan_order_is_exactly_inverted(spatial):
    x = torch.randn(2, *spatial, 3)
    orders = range(2) if len(spatial) == 1 else range(4)
    seqs = []
    for k in orders:
        seq = scan(x, k)
        assert seq.shape == (2, x[0, ..., 0].numel(), 3)
        assert torch.equal(unscan(seq, k, spatial), x)
        seqs.append(seq)
    for a, b in itertools.combinations(seqs, 2):
        assert not torch.equal(a, b)  # four different orders


def test_the_cross_scan_orders_are_row_major_column_major_and_their_reverses():
    grid = torch.arange(6.0).reshape(1, 2, 3, 1)  # [[0, 1, 2], [3, 4, 5]]
    flat = [scan(grid, k).flatten().tolist() for k in range(4)]
    assert flat == [[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [0, 3, 1, 4, 2, 5], [5, 2, 4, 1, 3, 0]]


def test_the_four_scan_token_mixer_keeps_image_shapes_and_has_one_s6_per_scan():
    mixer = seeded(SelectiveTokenMixer, dim=8, spatial_rank=2, **SMALL)
    assert mixer.directions == 4 and len(mixer.ssms) == 4 and mixer.uses_conv2d
    assert mixer(torch.randn(2, 5, 3, 8)).shape == (2, 5, 3, 8)
    video = seeded(SelectiveTokenMixer, dim=8, spatial_rank=3, **SMALL)
    assert video.directions == 2 and video(torch.randn(1, 2, 3, 4, 8)).shape == (1, 2, 3, 4, 8)
    assert not mixer.supports((8,)) and mixer.supports((4, 4))


def test_b_c_and_delta_can_come_from_the_input_before_the_conv():
    conv = seeded(SelectiveTokenMixer, dim=6, d_state=4)
    paper = seeded(SelectiveTokenMixer, dim=6, d_state=4, bcdt_from="input")
    x = torch.randn(2, 7, 6)
    with torch.no_grad():
        assert not torch.allclose(conv(x), paper(x))


def test_the_variate_mixer_is_not_causal():
    mixer = seeded(SelectiveVariateMixer, dim=6, **SMALL)
    x = torch.randn(2, 5, 3, 6)  # (B, M variates, n patches, D)
    changed = x.clone()
    changed[:, 2] += 1.0  # variate 2
    with torch.no_grad():
        diff = (mixer(x) - mixer(changed)).abs()
    assert diff[:, 1].max() > 1e-4 and diff[:, 3].max() > 1e-4  # variates before and after it see it
    same_patch = x.clone()
    same_patch[:, :, 2] += 1.0  # another patch: mixing is along the variates only
    with torch.no_grad():
        assert torch.allclose(mixer(x)[:, :, :2], mixer(same_patch)[:, :, :2])


@pytest.mark.parametrize("axis", [0, 1])
def test_the_variate_mixer_with_shared_directions_commutes_with_flipping(axis):
    x = torch.randn(2, 5, 4, 6)
    shared = seeded(SelectiveVariateMixer, dim=6, axis=axis, share_directions=True, **SMALL)
    own = seeded(SelectiveVariateMixer, dim=6, axis=axis, **SMALL)
    with torch.no_grad():
        assert torch.allclose(shared(x.flip(axis + 1)), shared(x).flip(axis + 1), atol=1e-6)
        assert not torch.allclose(own(x.flip(axis + 1)), own(x).flip(axis + 1), atol=1e-4)  # the test can fail


def test_the_variate_mixer_takes_any_number_of_variates():
    mixer = seeded(SelectiveVariateMixer, dim=6, **SMALL)
    for m in (2, 7, 13):
        assert mixer(torch.randn(1, m, 3, 6)).shape == (1, m, 3, 6)


def test_the_per_token_channel_mixer_transforms_each_token_alone():
    mixer = seeded(SelectiveChannelMixer, dim=10, d_state=4)
    assert mixer.pointwise
    x = torch.randn(2, 4, 3, 10)
    changed = x.clone()
    changed[:, 1, 2] = torch.randn(2, 10)
    with torch.no_grad():
        out, out2 = mixer(x), mixer(changed)
    keep = torch.ones(4, 3, dtype=torch.bool)
    keep[1, 2] = False
    assert torch.equal(out[:, keep], out2[:, keep]) and not torch.allclose(out[:, 1, 2], out2[:, 1, 2])


def test_the_per_token_channel_mixer_mixes_channels_and_has_no_c_shaped_weights():
    small, large = SelectiveChannelMixer(dim=8), SelectiveChannelMixer(dim=40)
    assert sum(p.numel() for p in small.parameters()) == sum(p.numel() for p in large.parameters())
    mixer = seeded(SelectiveChannelMixer, dim=8, d_state=4)
    x = torch.randn(3, 8)
    changed = x.clone()
    changed[:, 3] += 1.0
    with torch.no_grad():
        diff = (mixer(x) - mixer(changed)).abs()
    assert diff[:, 2].max() > 1e-4 and diff[:, 4].max() > 1e-4  # channels on both sides read channel 3


def test_the_literal_channel_mixer_is_sized_by_the_token_count_and_mixes_tokens():
    assert SelectiveChannelMixerPaper.fields_for_input((3, 4)) == {"num_tokens": 12}
    mixer = seeded(SelectiveChannelMixerPaper, dim=5, num_tokens=12, **SMALL)
    assert mixer.in_proj.in_features == 12 and mixer.supports((3, 4)) and not mixer.supports((4, 4))
    x = torch.randn(2, 3, 4, 5)
    changed = x.clone()
    changed[:, 2, 3] += 1.0
    with torch.no_grad():
        assert (mixer(x) - mixer(changed))[:, 0, 0].abs().max() > 1e-6
    with pytest.raises(ValueError, match="num_tokens=12"):
        mixer(torch.randn(1, 4, 4, 5))
