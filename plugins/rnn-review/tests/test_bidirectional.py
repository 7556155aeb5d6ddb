"""Causality of the unidirectional mixers and the bidirectional wrapper (card tests)."""

from __future__ import annotations

import pytest
import torch

import forwardkit

C, B, N, T = 6, 2, 10, 4
UNIDIRECTIONAL = [("elman_rnn_mixer", {}), ("lstm_mixer", {}), ("gru_mixer", {"reset_position": "before_matmul"}),
                  ("lstm_mixer", {"backend": "torch", "hidden": 3})]


def _changed_after(x: torch.Tensor, t: int) -> torch.Tensor:
    x2 = x.clone()
    x2[:, t + 1:] = torch.randn_like(x2[:, t + 1:])
    return x2


@pytest.mark.parametrize(("name", "cfg"), UNIDIRECTIONAL)
def test_unidirectional_output_ignores_the_future(name, cfg):
    mixer = forwardkit.create("token_mixer", name, dim=C, **cfg).eval()
    assert mixer.causal
    x = torch.randn(B, N, C)
    with torch.no_grad():
        y, y2 = mixer(x), mixer(_changed_after(x, T))
    assert torch.equal(y[:, : T + 1], y2[:, : T + 1])
    assert not torch.allclose(y[:, T + 1:], y2[:, T + 1:])


def test_bidirectional_output_sees_the_future():
    mixer = forwardkit.create("token_mixer", "bidirectional_mixer", dim=C).eval()
    assert not mixer.causal
    x = torch.randn(B, N, C)
    with torch.no_grad():
        y, y2 = mixer(x), mixer(_changed_after(x, T))
    assert (y[:, : T + 1] - y2[:, : T + 1]).abs().amax() > 1e-4


@pytest.mark.parametrize("inner", ["lstm_mixer", "gru_mixer", "elman_rnn_mixer"])
def test_shared_weights_and_sum_commute_with_time_reversal(inner):
    """Bi(flip(x)) = flip(Bi(x)) when both directions share one inner mixer and the merge is a sum."""
    mixer = forwardkit.create("token_mixer", "bidirectional_mixer", dim=C, inner=inner, share_weights=True,
                              merge="sum").double().eval()
    x = torch.randn(B, N, C, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(mixer(x.flip(1)), mixer(x).flip(1))
        untied = forwardkit.create("token_mixer", "bidirectional_mixer", dim=C, inner=inner, merge="sum").double()
        assert not torch.allclose(untied(x.flip(1)), untied(x).flip(1))


def test_concat_linear_merge_is_the_surveys_read_out():
    """y(t) = W^{yh} h(t) + W^{yz} z(t) + b_y with h the forward states and z the reversed backward ones."""
    mixer = forwardkit.create("token_mixer", "bidirectional_mixer", dim=C).double().eval()
    x = torch.randn(B, N, C, dtype=torch.float64)
    with torch.no_grad():
        h = mixer.forward_mixer(x)
        z = mixer.backward_mixer(x.flip(1)).flip(1)
        w = mixer.merge.weight
        expected = h @ w[:, :C].T + z @ w[:, C:].T + mixer.merge.bias
        torch.testing.assert_close(mixer(x), expected)


def test_the_inner_mixer_must_be_causal():
    with pytest.raises(ValueError, match="not causal"):
        forwardkit.create("token_mixer", "bidirectional_mixer", dim=C, inner={"name": "attention", "head_dim": 2})
