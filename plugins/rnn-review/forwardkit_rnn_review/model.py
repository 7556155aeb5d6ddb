"""``rnn_sequence_model``: the sequence model of the card, a recurrent mixer in MetaFormer-style blocks.

    e = W_in x + b_in                                     (B, L, C)   input Linear
    e = e + mixer(norm1(e));  e = e + mlp(norm2(e))       depth pre-norm blocks
    y = head(norm(e[:, -1]))                              (B, K)      last_step_regression / sequence_classification
    y = head(norm(e))                                     (B, L, K)   tagging

The survey's output layer ``y(t) = softmax(W^{yh} h(t) + b_y)`` is the head (the softmax is in the loss).
Any token mixer fits the blocks; with this plugin's unidirectional recurrent mixers the model also *streams*:
:meth:`RNNSequenceModel.stream` runs a window of a sequence from a carried state and returns the state at
its end, which is how ``truncated_bptt`` trains it. In a batch, the carried state travels under the key
:data:`STATE_KEY` as one tensor ``(B, depth, slots, H)`` (slots: 1 for Elman/GRU, 2 for the LSTM's ``h, s``);
:meth:`RNNSequenceModel.forward_batch` then returns ``(output, new_state)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Model
from forwardkit.nn import FeedForward, make_norm
from forwardkit_rnn_review.config import RNNSequenceModelConfig

#: the batch key of a carried recurrent state (see the module docstring)
STATE_KEY = "rnn_state"
#: dataset task -> model head
TASK_OF = {"regression": "last_step_regression", "classification": "sequence_classification",
           "sequence_tagging": "tagging"}


class RecurrentBlock(nn.Module):
    """``x = x + mixer(norm1(x)); x = x + mlp(norm2(x))`` on ``(B, L, C)`` (MetaFormer eq. 1-2, pre-norm)."""

    def __init__(self, *, dim: int, mixer: nn.Module, mlp_ratio: float, norm: str) -> None:
        super().__init__()
        self.norm1 = make_norm(norm, dim)
        self.mixer = mixer
        self.norm2 = make_norm(norm, dim) if mlp_ratio > 0 else nn.Identity()
        self.mlp: nn.Module | None = FeedForward(dim=dim, mlp_ratio=mlp_ratio) if mlp_ratio > 0 else None

    def _channel(self, x: Tensor) -> Tensor:
        return x if self.mlp is None else x + self.mlp(self.norm2(x))

    def forward(self, x: Tensor) -> Tensor:
        return self._channel(x + self.mixer(self.norm1(x)))

    def forward_with_state(self, x: Tensor, state: tuple[Tensor, ...] | None) -> tuple[Tensor, tuple[Tensor, ...]]:
        """The block on one window ``(B, w, C)`` of a stream, from the mixer's ``state``; the state at its end."""
        mixer: Any = self.mixer
        y, last = mixer.forward_with_state(self.norm1(x), state)
        return self._channel(x + y), last


class RNNSequenceModel(Model):
    """Sequences ``(B, L, in_channels)`` -> ``(B, num_classes)`` (last step) or ``(B, L, num_classes)``
    (tagging); see the module docstring."""

    Config = RNNSequenceModelConfig
    config: RNNSequenceModelConfig
    #: small configs for the kit (the first two are exported: fused kernels, short sequences)
    conformance_configs: ClassVar[list[dict[str, Any]]] = [
        {"dim": 8, "example_length": 6, "token_mixer": {"name": "lstm_mixer", "backend": "torch"}},
        {"dim": 8, "example_length": 6, "task": "sequence_classification", "num_classes": 3, "depth": 2,
         "mlp_ratio": 0.0, "token_mixer": {"name": "gru_mixer", "backend": "torch"}},
        {"dim": 8, "example_length": 6, "task": "tagging", "num_classes": 4,
         "token_mixer": {"name": "bidirectional_mixer", "inner": "elman_rnn_mixer"}},
    ]

    def __init__(self, config: RNNSequenceModelConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.embed = nn.Linear(cfg.in_channels, cfg.dim)
        self.blocks = nn.ModuleList(
            RecurrentBlock(dim=cfg.dim, mixer=cfg.token_mixer.build_for_input((None,), dim=cfg.dim),
                           mlp_ratio=cfg.mlp_ratio, norm=cfg.norm)
            for _ in range(cfg.depth))
        self.norm = make_norm(cfg.norm, cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.num_classes)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        """``in_channels`` and ``num_classes`` as every model, and ``task`` from the dataset's task."""
        out = super().fields_from_metadata(metadata)
        if metadata.task in TASK_OF:
            out["task"] = TASK_OF[metadata.task]
        return out

    @property
    def per_position(self) -> bool:
        """True for the tagging head (an output at every step)."""
        return self.config.task == "tagging"

    # ---- plain forward ----------------------------------------------------------------------------------
    def _read_out(self, e: Tensor) -> Tensor:
        return self.head(self.norm(e if self.per_position else e[:, -1]))

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, L, in_channels)`` -> ``(B, num_classes)`` or, tagging, ``(B, L, num_classes)``."""
        if x.dim() != 3:
            raise ValueError(f"rnn_sequence_model takes sequences (B, L, in_channels), got {tuple(x.shape)}")
        e = self.embed(x)
        for block in self.blocks:
            e = block(e)
        return self._read_out(e)

    def forward_batch(self, batch: Mapping[str, Tensor]) -> Any:
        """``forward(batch["x"])``; with a carried state under :data:`STATE_KEY`, ``stream``'s
        ``(output, new_state)``."""
        if STATE_KEY in batch:
            return self.stream(batch["x"], batch[STATE_KEY])
        return self(batch["x"])

    # ---- streaming (truncated BPTT) ---------------------------------------------------------------------
    @property
    def streamable(self) -> bool:
        """Whether every block's mixer is a unidirectional recurrent mixer that carries a state."""
        return all(getattr(b.mixer, "causal", False) and hasattr(b.mixer, "forward_with_state")
                   and hasattr(b.mixer, "state_slots") for b in self.blocks)

    def _require_stream(self) -> None:
        if not self.streamable:
            raise ForwardkitError(f"rnn_sequence_model with token_mixer {self.config.token_mixer.name!r} cannot "
                                  "stream: truncated BPTT needs a unidirectional recurrent mixer (elman_rnn_mixer, "
                                  "lstm_mixer, gru_mixer) that carries its state")

    def init_state(self, batch_size: int, *, like: Tensor) -> Tensor:
        """The zero state ``(B, depth, slots, H)`` in ``like``'s dtype and device (every block has the same
        mixer, hence the same slots and H)."""
        self._require_stream()
        mixer: Any = self.blocks[0].mixer
        return like.new_zeros(batch_size, len(self.blocks), mixer.state_slots, mixer.hidden)

    def stream(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One window ``x`` ``(B, w, in_channels)`` from ``state`` ``(B, depth, slots, H)``: the output for
        this window (last step's, or every step's for tagging) and the state at its end (not detached)."""
        self._require_stream()
        e = self.embed(x)
        ends = []
        blocks: list[Any] = list(self.blocks)
        for i, block in enumerate(blocks):
            e, last = block.forward_with_state(e, tuple(state[:, i].unbind(dim=1)))
            ends.append(torch.stack(last, dim=1))
        return self._read_out(e), torch.stack(ends, dim=1)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Random sequences ``(B, example_length, in_channels)`` and targets of the configured task."""
        cfg = self.config
        x = torch.randn(batch_size, cfg.example_length, cfg.in_channels, generator=generator)
        if cfg.task == "last_step_regression":
            shape: tuple[int, ...] = (batch_size,) if cfg.num_classes == 1 else (batch_size, cfg.num_classes)
            return {"x": x, "y": torch.randn(shape, generator=generator)}
        shape = (batch_size, cfg.example_length) if self.per_position else (batch_size,)
        return {"x": x, "y": torch.randint(0, cfg.num_classes, shape, generator=generator)}
