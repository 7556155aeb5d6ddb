"""The reference cells against PyTorch's nn.RNN / nn.LSTM / nn.GRU, and the cells' special cases (card tests)."""

from __future__ import annotations

import pytest
import torch
from forwardkit_rnn_review.elman import ElmanRNNMixer
from forwardkit_rnn_review.gru import GRUMixer, gru_reference
from forwardkit_rnn_review.lstm import LSTMMixer, lstm_reference
from forwardkit_rnn_review.parity import copy_from_torch_, to_torch
from torch import nn

import forwardkit

C, H, B, N = 5, 4, 3, 9
CELLS = [("elman_rnn_mixer", nn.RNN, {}), ("elman_rnn_mixer", nn.RNN, {"activation": "relu"}),
         ("lstm_mixer", nn.LSTM, {}), ("gru_mixer", nn.GRU, {})]


def _torch_module(cls: type[nn.RNNBase], **kwargs: object) -> nn.RNNBase:
    torch.manual_seed(1)
    module = cls(C, H, batch_first=True, **kwargs).double()
    with torch.no_grad():  # both bias vectors non-zero, so that the summing of the map matters
        for name, p in module.named_parameters():
            if name.startswith("bias"):
                p.uniform_(-1.0, 1.0)
    return module


@pytest.mark.parametrize(("name", "cls", "cfg"), CELLS)
def test_reference_cells_equal_torch_after_copying_weights(name, cls, cfg):
    """Outputs and final states to 1e-6 in float64, from a random initial state, with the documented map
    (LSTM rows i, f, g, o; GRU r, z, n; the two biases summed, except the GRU's b_hn)."""
    kwargs = {"nonlinearity": cfg["activation"]} if "activation" in cfg else {}
    module = _torch_module(cls, **kwargs)
    mixer = forwardkit.create("token_mixer", name, dim=C, hidden=H, **cfg).double()
    copy_from_torch_(mixer, module)
    x = torch.randn(B, N, C, dtype=torch.float64)
    h0 = torch.randn(1, B, H, dtype=torch.float64)
    if cls is nn.LSTM:
        s0 = torch.randn(1, B, H, dtype=torch.float64)
        expected, (hn, sn) = module(x, (h0, s0))
        got, state = mixer.reference(x, (h0[0], s0[0]))
        torch.testing.assert_close(state[1], sn[0], rtol=0, atol=1e-6)
    else:
        expected, hn = module(x, h0)
        got, state = mixer.reference(x, (h0[0],))
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(state[0], hn[0], rtol=0, atol=1e-6)


@pytest.mark.parametrize(("name", "cls", "cfg"), CELLS)
def test_to_torch_builds_the_module_the_mixer_computes(name, cls, cfg):
    mixer = forwardkit.create("token_mixer", name, dim=C, hidden=H, **cfg).double()
    x = torch.randn(B, N, C, dtype=torch.float64)
    module = to_torch(mixer)
    assert isinstance(module, cls)
    torch.testing.assert_close(mixer.reference(x, None)[0], module(x)[0], rtol=0, atol=1e-6)


@pytest.mark.parametrize(("name", "cfg"), [("elman_rnn_mixer", {}), ("lstm_mixer", {}), ("gru_mixer", {}),
                                           ("lstm_mixer", {"hidden": 3})])
def test_both_backends_agree_in_outputs_and_gradients(name, cfg):
    """The same parameters through the reference loop and through PyTorch's fused kernel (float64)."""
    torch.manual_seed(0)
    ref = forwardkit.create("token_mixer", name, dim=C, backend="reference", scan="raster", **cfg).double()
    fused = forwardkit.create("token_mixer", name, dim=C, backend="torch", scan="raster", **cfg).double()
    fused.load_state_dict(ref.state_dict())
    x = torch.randn(B, 2, 4, C, dtype=torch.float64)  # a rank-2 grid, read in raster order
    grads = []
    for mixer in (ref, fused):
        xi = x.clone().requires_grad_(True)
        y = mixer(xi)
        (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
        grads.append((y.detach(), xi.grad, {n: p.grad for n, p in mixer.named_parameters()}))
    (y1, gx1, gp1), (y2, gx2, gp2) = grads
    torch.testing.assert_close(y1, y2, rtol=0, atol=1e-10)
    torch.testing.assert_close(gx1, gx2, rtol=0, atol=1e-10)
    assert gp1.keys() == gp2.keys()
    for key in gp1:
        torch.testing.assert_close(gp1[key], gp2[key], rtol=0, atol=1e-10, msg=key)


def test_parameter_counts_are_pytorchs_less_the_redundant_biases():
    """nn.RNN/LSTM/GRU keep two bias vectors that only appear summed (the GRU's b_hn excepted); the survey's
    cells have one bias per gate: counts are PyTorch's minus H (Elman), 4H (LSTM), 2H (GRU)."""
    def count(module: nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    assert count(ElmanRNNMixer(dim=C, hidden=H)) - count(nn.Linear(H, C)) == count(nn.RNN(C, H)) - H
    assert count(LSTMMixer(dim=C, hidden=H)) - count(nn.Linear(H, C)) == count(nn.LSTM(C, H)) - 4 * H
    assert count(GRUMixer(dim=C, hidden=H)) - count(nn.Linear(H, C)) == count(nn.GRU(C, H)) - 2 * H
    assert count(LSTMMixer(dim=C)) == 4 * C * (C + C) + 4 * C  # H = C: no output projection


def test_the_two_gru_reset_positions_are_different_functions():
    torch.manual_seed(0)
    w, u, b = torch.randn(3 * H, C), torch.randn(3 * H, H), torch.randn(3 * H)
    x, h0 = torch.randn(B, N, C), torch.randn(B, H)
    after, _ = gru_reference(x, w, u, b, torch.zeros(H), h0, reset_position="after_matmul")
    before, _ = gru_reference(x, w, u, b, None, h0, reset_position="before_matmul")
    assert (after - before).abs().max() > 1e-3
    r = torch.sigmoid(x[:, 0] @ w[:H].T + b[:H] + h0 @ u[:H].T)  # first step of the Cho form, by hand
    z = torch.sigmoid(x[:, 0] @ w[H:2 * H].T + b[H:2 * H] + h0 @ u[H:2 * H].T)
    n = torch.tanh(x[:, 0] @ w[2 * H:].T + (r * h0) @ u[2 * H:].T + b[2 * H:])
    torch.testing.assert_close(before[:, 0], (1 - z) * n + z * h0)


def test_lstm_without_forget_gate_keeps_its_state_when_the_input_gate_is_shut():
    """The constant error carousel: f = 1 and i = 0 (a very negative input-gate bias) leave s(t) = s(0)."""
    torch.manual_seed(0)
    mixer = LSTMMixer(dim=C, hidden=H, forget_gate=False).double()
    with torch.no_grad():
        mixer.b[:H].fill_(-1e4)  # the input gate's bias: i = sigmoid(-1e4) = 0
    x = torch.randn(B, N, C, dtype=torch.float64)
    s0 = torch.randn(B, H, dtype=torch.float64)
    state = (torch.zeros(B, H, dtype=torch.float64), s0)
    for t in range(N):
        _, state = mixer.forward_with_state(x[:, t: t + 1], state)
        assert torch.equal(state[1], s0), t
    gated = LSTMMixer(dim=C, hidden=H).double()  # with a forget gate the same state decays
    with torch.no_grad():
        gated.b[:H].fill_(-1e4)
    _, (_, s) = gated.forward_with_state(x, (torch.zeros_like(s0), s0))
    assert not torch.allclose(s, s0)


def test_lstm_variants_follow_their_equations():
    """Peepholes and the s * o output, checked on the first step by hand."""
    torch.manual_seed(0)
    w_x, w_h, b = torch.randn(4 * H, C), torch.randn(4 * H, H), torch.randn(4 * H)
    p = (torch.randn(H), torch.randn(H), torch.randn(H))
    x, h0, s0 = torch.randn(B, 1, C), torch.randn(B, H), torch.randn(B, H)
    out, (_, s) = lstm_reference(x, w_x, w_h, b, (h0, s0), peephole=p, state_activation="identity")
    a_i, a_f, a_g, a_o = (x[:, 0] @ w_x.T + h0 @ w_h.T + b).chunk(4, dim=-1)
    i, f, g = torch.sigmoid(a_i + p[0] * s0), torch.sigmoid(a_f + p[1] * s0), torch.tanh(a_g)
    s_ref = g * i + s0 * f
    torch.testing.assert_close(s, s_ref)
    torch.testing.assert_close(out[:, 0], s_ref * torch.sigmoid(a_o + p[2] * s_ref))


def test_forget_bias_and_orthogonal_init():
    lstm = LSTMMixer(dim=C, hidden=H, forget_bias=1.0)
    assert torch.equal(lstm.b[H: 2 * H], torch.ones(H))
    elman = ElmanRNNMixer(dim=C, hidden=H, recurrent_gain=0.5)
    torch.testing.assert_close(torch.linalg.svdvals(elman.w_hh), torch.full((H,), 0.5))


def _probe(mixer: nn.Module, length: int) -> float:
    """||d h(T) / d x(1)|| (Frobenius) over ||d h(1) / d x(1)|| for one sequence, at init."""
    x = torch.randn(1, length, C, dtype=torch.float64, generator=torch.Generator().manual_seed(3))

    def last(first: torch.Tensor) -> torch.Tensor:
        return mixer(torch.cat([first, x[:, 1:]], dim=1))[0, -1]

    def own(first: torch.Tensor) -> torch.Tensor:
        return mixer(first)[0, 0]

    far = torch.autograd.functional.jacobian(last, x[:, :1])
    near = torch.autograd.functional.jacobian(own, x[:, :1])
    return float(far.norm() / near.norm())


def test_vanishing_gradient_probe():
    """At init, over T = 50 steps, the Elman RNN with spectral radius 0.5 keeps >= 10x less of the input's
    gradient than the LSTM with forget bias 1 (the survey's sec. 3.2 argument)."""
    torch.manual_seed(0)
    elman = ElmanRNNMixer(dim=C, recurrent_gain=0.5).double()
    torch.manual_seed(0)
    lstm = LSTMMixer(dim=C, forget_bias=1.0).double()
    d_elman, d_lstm = _probe(elman, 50), _probe(lstm, 50)
    assert d_lstm >= 10 * d_elman, (d_elman, d_lstm)
