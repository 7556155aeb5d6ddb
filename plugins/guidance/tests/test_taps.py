"""Layer taps: execution order, the dropped logits, tuple outputs (LSTM, attention), batch axis, explicit names."""

from __future__ import annotations

import pytest
import torch
from forwardkit_guidance.config import LayerTapsConfig
from forwardkit_guidance.taps import LayerTaps, batch_first, extract_taps
from torch import nn

import forwardkit


class Recurrent(nn.Module):
    """``(B, T, 3)`` batches through a sequence-first LSTM (outputs ``(T, B, H)`` and an ``(h, c)`` tuple),
    LayerNorm, a Linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, 5)
        self.norm = nn.LayerNorm(5)
        self.head = nn.Linear(5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, 3)
        out, _ = self.lstm(x.transpose(0, 1))
        return self.head(self.norm(out[-1]))


def test_the_logits_tap_is_dropped_and_the_rest_kept_in_order():
    model = forwardkit.create("model", "mlp", in_features=12, hidden=[8, 8, 8], num_classes=3)
    taps = extract_taps(model, torch.randn(5, 12))
    assert list(taps) == ["net.0", "net.2", "net.4"] and all(t.shape == (5, 8) for t in taps.values())
    kept = extract_taps(model, torch.randn(5, 12), drop_last=False)
    assert list(kept) == ["net.0", "net.2", "net.4", "net.6"] and kept["net.6"].shape == (5, 3)
    # taps are pre-activation Linear outputs: negative entries exist (a ReLU output would have none)
    assert (taps["net.2"] < 0).any()


def test_lstm_tuple_output_gives_its_sequence_with_the_batch_axis_first_and_skips_the_state():
    model = Recurrent()
    taps = extract_taps(model, torch.randn(4, 7, 3))  # B = 4, T = 7
    assert list(taps) == ["lstm-1", "norm"]  # (h, c) left out; head (the logits) dropped
    assert taps["lstm-1"].shape == (4, 7, 5)
    assert taps["norm"].shape == (4, 5)


def test_an_ambiguous_batch_axis_is_skipped():
    assert batch_first(torch.zeros(4, 4, 2), 4).shape == (4, 4, 2)  # axis 0 has the batch size: kept as it is
    assert batch_first(torch.zeros(3, 4, 4), 4) is None  # two other axes of the batch size: which one?
    assert batch_first(torch.zeros(3, 5), 4) is None
    assert batch_first(torch.zeros(3, 4), 4).shape == (4, 3)
    taps = extract_taps(Recurrent(), torch.randn(4, 4, 3))  # T == B: the LSTM output's first axis is taken
    assert taps["lstm-1"].shape == (4, 4, 5)


def test_attention_tuples_split_into_numbered_taps():
    class Attn(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mha = nn.MultiheadAttention(6, 2, batch_first=True)
            self.head = nn.Linear(6, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y, _ = self.mha(x, x, x)
            return self.head(y.mean(1))

    taps = extract_taps(Attn(), torch.randn(3, 5, 6))
    assert list(taps) == ["mha-1", "mha-2"] and taps["mha-2"].shape == (3, 5, 5)  # output, averaged weights


def test_explicit_names_repeated_calls_and_unknown_names():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(4, 4)
            self.b = nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.b(self.a(self.a(x)))

    model = Twice()
    assert list(extract_taps(model, torch.randn(3, 4))) == ["a", "a@2"]
    cfg = LayerTapsConfig(explicit=["a"], drop_last=False)
    assert list(extract_taps(model, torch.randn(3, 4), cfg)) == ["a", "a@2"]
    with pytest.raises(ValueError, match="not modules"):
        LayerTaps(model, LayerTapsConfig(explicit=["c"])).attach()


def test_hooks_are_removed_and_grad_flows_when_asked():
    model = forwardkit.create("model", "mlp", in_features=4, hidden=[3], num_classes=2)
    taps = extract_taps(model, torch.randn(2, 4), grad=True)
    assert taps["net.0"].requires_grad
    assert not extract_taps(model, torch.randn(2, 4))["net.0"].requires_grad
    assert all(not m._forward_hooks for m in model.modules())
