"""The documented map between this plugin's parameters and PyTorch's ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``.

PyTorch keeps per layer ``weight_ih_l0`` ``(G*H, C)``, ``weight_hh_l0`` ``(G*H, H)`` and two biases
``bias_ih_l0``, ``bias_hh_l0`` ``(G*H,)``, gates in the row order

* ``nn.RNN``: one block (``G = 1``): ``W^{hx}``, ``W^{hh}``, ``b_h = b_ih + b_hh``;
* ``nn.LSTM``: ``i, f, g, o`` (``G = 4``): ``W^{ix}, W^{fx}, W^{gx}, W^{ox}``; one bias per gate,
  ``b = b_ih + b_hh`` (the two biases only ever appear summed);
* ``nn.GRU``: ``r, z, n`` (``G = 3``): ``b_r = b_ir + b_hr``, ``b_z = b_iz + b_hz``, ``b_n = b_in`` and
  ``b_hn`` stays apart, because the reset gate multiplies ``U_n h + b_hn`` (the 'after_matmul' form).

:func:`copy_from_torch_` loads a PyTorch module's weights into a mixer, :func:`to_torch` builds the PyTorch
module that computes what a mixer computes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from forwardkit_rnn_review.elman import ElmanRNNMixer
from forwardkit_rnn_review.gru import GRUMixer
from forwardkit_rnn_review.lstm import LSTMMixer
from forwardkit_rnn_review.recurrent import RecurrentMixer

Mixer = ElmanRNNMixer | LSTMMixer | GRUMixer


def _layer(module: nn.RNNBase) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    if module.num_layers != 1 or module.bidirectional or not module.bias or module.proj_size:
        raise ValueError("only a one-layer, unidirectional PyTorch RNN with biases and no projection maps onto a "
                         "mixer")
    w_ih, w_hh, b_ih, b_hh = (getattr(module, n) for n in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"))
    return w_ih, w_hh, b_ih, b_hh


def torch_kind(mixer: RecurrentMixer) -> type[nn.RNNBase]:
    """The PyTorch module class a mixer corresponds to."""
    if isinstance(mixer, LSTMMixer):
        return nn.LSTM
    if isinstance(mixer, GRUMixer):
        return nn.GRU
    if isinstance(mixer, ElmanRNNMixer):
        return nn.RNN
    raise TypeError(f"no PyTorch counterpart for {type(mixer).__name__}")


def require_plain(mixer: Mixer) -> None:
    """Raise unless the mixer computes a function PyTorch's module has (the plain cell)."""
    if isinstance(mixer, LSTMMixer):
        cfg = mixer.config
        if cfg.peephole or not cfg.forget_gate or cfg.state_activation != "tanh":
            raise ValueError("nn.LSTM computes the plain cell: no peepholes, a forget gate, state_activation tanh")
    elif isinstance(mixer, GRUMixer):
        if mixer.b_hn is None:
            raise ValueError("nn.GRU applies the reset gate after the matmul: reset_position='after_matmul'")
    elif mixer.config.activation == "sigmoid":
        raise ValueError("nn.RNN has tanh and relu units, not sigmoid")


@torch.no_grad()
def copy_from_torch_(mixer: Mixer, module: nn.RNNBase) -> Mixer:
    """Load ``module``'s weights into ``mixer`` in place (see the module docstring for the map); returns it.

    The mixer must be the plain cell PyTorch computes: Elman with tanh/relu, LSTM without peepholes, with a
    forget gate and ``state_activation='tanh'``, GRU with ``reset_position='after_matmul'``; and
    ``input_size == C``, ``hidden_size == H``."""
    require_plain(mixer)
    w_ih, w_hh, b_ih, b_hh = _layer(module)
    if (module.input_size, module.hidden_size) != (mixer.dim, mixer.hidden):
        raise ValueError(f"module maps {module.input_size} -> {module.hidden_size}, the mixer {mixer.dim} -> "
                         f"{mixer.hidden}")
    if isinstance(mixer, LSTMMixer):
        mixer.w_x.copy_(w_ih), mixer.w_h.copy_(w_hh), mixer.b.copy_(b_ih + b_hh)
    elif isinstance(mixer, GRUMixer):
        assert mixer.b_hn is not None
        h = mixer.hidden
        mixer.w.copy_(w_ih), mixer.u.copy_(w_hh)
        mixer.b.copy_(torch.cat([b_ih[: 2 * h] + b_hh[: 2 * h], b_ih[2 * h:]]))
        mixer.b_hn.copy_(b_hh[2 * h:])
    else:
        if mixer.config.activation != module.nonlinearity:
            raise ValueError(f"the module uses {module.nonlinearity}, the mixer {mixer.config.activation}")
        mixer.w_hx.copy_(w_ih), mixer.w_hh.copy_(w_hh), mixer.b_h.copy_(b_ih + b_hh)
    return mixer


@torch.no_grad()
def to_torch(mixer: Mixer) -> nn.RNNBase:
    """A PyTorch module (``batch_first``) computing the mixer's recurrence (before its output projection),
    with ``bias_hh`` zero except the GRU's ``b_hn``."""
    require_plain(mixer)
    module: nn.RNNBase
    if isinstance(mixer, ElmanRNNMixer):
        module = nn.RNN(mixer.dim, mixer.hidden, nonlinearity=mixer.config.activation, batch_first=True)
    elif isinstance(mixer, LSTMMixer):
        module = nn.LSTM(mixer.dim, mixer.hidden, batch_first=True)
    else:
        module = nn.GRU(mixer.dim, mixer.hidden, batch_first=True)
    module = module.to(dtype=next(mixer.parameters()).dtype)
    w_ih, w_hh, b_ih, b_hh = _layer(module)
    if isinstance(mixer, LSTMMixer):
        w_ih.copy_(mixer.w_x), w_hh.copy_(mixer.w_h), b_ih.copy_(mixer.b), b_hh.zero_()
    elif isinstance(mixer, GRUMixer):
        assert mixer.b_hn is not None
        h = mixer.hidden
        w_ih.copy_(mixer.w), w_hh.copy_(mixer.u), b_ih.copy_(mixer.b)
        b_hh.zero_()
        b_hh[2 * h:].copy_(mixer.b_hn)
    else:
        w_ih.copy_(mixer.w_hx), w_hh.copy_(mixer.w_hh), b_ih.copy_(mixer.b_h), b_hh.zero_()
    return module
