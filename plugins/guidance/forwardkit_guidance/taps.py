"""Layer taps: the per-layer outputs guidance aligns, recorded by forward hooks (card "Mechanism", taps).

Follows the official ``FeatureMapExtractor`` (rep_sim/layer_extract.py): a forward hook on every module whose
exact class name is one of ``module_types`` (or, with ``explicit``, whose qualified name is listed), outputs in
execution order; tuple outputs split into one tap per tensor (for RNN/LSTM/GRU the trailing hidden state is left
out); a packed sequence is padded (batch first); each tap is moved to have its batch axis first, and an output
without exactly one axis of the batch's size is skipped; the last recorded output (the logits) is dropped
*before* the skipped ones are removed, as in the code. Taps are module outputs: pre-activation for Linear and
Conv layers.

Names are the modules' qualified names (``net.0``), ``name-k`` for the k-th element of a tuple output (1-based),
``name@n`` for the n-th call of a module called more than once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.data import forward_batch
from forwardkit_guidance.config import LayerTapsConfig

__all__ = ["LayerTaps", "batch_first", "extract_taps", "tapped_modules"]

_RECURRENT = ("RNN", "LSTM", "GRU")


def batch_first(output: Tensor, batch_size: int) -> Tensor | None:
    """``output`` with its batch axis moved first: kept when ``shape[0] == batch_size``, else the one axis of that
    size moved to the front, else None (no such axis, or several: the batch axis is ambiguous)."""
    if output.dim() == 0:
        return None
    if output.shape[0] == batch_size:
        return output
    axes = [i for i, n in enumerate(output.shape) if n == batch_size]
    return output.movedim(axes[0], 0) if len(axes) == 1 else None


def tapped_modules(model: nn.Module, config: LayerTapsConfig) -> list[tuple[str, nn.Module]]:
    """``(qualified name, module)`` of every module ``config`` taps, in registration order (the taps themselves
    come in execution order). Containers (Sequential, ModuleList, ModuleDict) are never tapped."""
    containers = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    found = []
    for name, module in model.named_modules():
        if isinstance(module, containers):
            continue
        if config.explicit is not None:
            if name in config.explicit:
                found.append((name, module))
        elif type(module).__name__ in config.module_types:
            found.append((name, module))
    if config.explicit is not None:
        missing = sorted(set(config.explicit) - {n for n, _ in found})
        if missing:
            raise ValueError(f"explicit taps {missing} are not modules of {type(model).__name__} (its modules: "
                             f"{[n for n, _ in model.named_modules() if n][:20]} ...)")
    return found


class LayerTaps:
    """Forward hooks on ``model`` recording the outputs ``config`` taps; a context manager.

    ``with LayerTaps(model, cfg) as taps: model(x); feats = taps.outputs(batch_size)`` gives an ordered
    ``{name: (B, ...)}`` dict. Outputs keep their autograd graph (taps of a model trained with grad stay
    differentiable). ``clear()`` forgets what was recorded (each forward pass appends).
    """

    def __init__(self, model: nn.Module, config: LayerTapsConfig | None = None, **overrides: Any) -> None:
        self.model = model
        self.config = config if config is not None else LayerTapsConfig(**overrides)
        if config is not None and overrides:
            self.config = config.model_copy(update=overrides)
        self._records: list[tuple[str, str, Any]] = []  # (name, module type, raw output)
        self._calls: dict[str, int] = {}
        self._handles: list[Any] = []

    def __enter__(self) -> LayerTaps:
        self.attach()
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()

    def attach(self) -> None:
        """Register the hooks (once)."""
        if self._handles:
            return
        for name, module in tapped_modules(self.model, self.config):
            self._handles.append(module.register_forward_hook(self._hook(name)))

    def detach(self) -> None:
        """Remove the hooks (what was recorded stays until ``clear``)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def clear(self) -> None:
        self._records = []
        self._calls = {}

    def _hook(self, name: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            calls = self._calls[name] = self._calls.get(name, 0) + 1
            label = name if calls == 1 else f"{name}@{calls}"
            self._records.append((label, type(module).__name__, output))
        return hook

    def raw(self) -> list[tuple[str, str, Tensor]]:
        """``(name, module type, output)`` per recorded tensor in execution order, tuples split, nothing dropped."""
        out: list[tuple[str, str, Tensor]] = []
        for label, kind, output in self._records:
            if isinstance(output, tuple | list):
                parts = list(output[:-1]) if kind in _RECURRENT else list(output)
                for i, part in enumerate(parts):
                    out.extend((f"{label}-{i + 1}", kind, t) for t in _tensors(part))
            else:
                out.extend((label, kind, t) for t in _tensors(output))
        return out

    def outputs(self, batch_size: int) -> dict[str, Tensor]:
        """The taps ``{name: (B, ...)}`` of the recorded forward passes for a batch of ``batch_size`` samples."""
        found = [(label, batch_first(t, batch_size)) for label, _, t in self.raw()]
        if self.config.drop_last and found:
            found = found[:-1]
        return {label: t for label, t in found if t is not None}


def _tensors(output: Any) -> list[Tensor]:
    """The tensor of one (tuple element of a) module output: a packed sequence is padded, batch first; anything
    that is not a tensor (None attention weights, a hidden-state tuple) records nothing."""
    if isinstance(output, nn.utils.rnn.PackedSequence):
        padded, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True)
        return [padded]
    return [output] if isinstance(output, Tensor) else []


def _batch_size(batch: Mapping[str, Tensor] | Tensor) -> int:
    if isinstance(batch, Tensor):
        return int(batch.shape[0])
    first = batch.get("x", next(iter(batch.values())))
    return int(first.shape[0])


@contextmanager
def _mode(model: nn.Module, train: bool | None) -> Iterator[None]:
    was = model.training
    if train is not None:
        model.train(train)
    try:
        yield
    finally:
        model.train(was)


def extract_taps(model: nn.Module, batch: Mapping[str, Tensor] | Tensor, config: LayerTapsConfig | None = None, *,
                 grad: bool = False, train: bool | None = None, **overrides: Any) -> dict[str, Tensor]:
    """Functional taps: run ``model`` on ``batch`` (a batch dict, through ``forward_batch``, or an input tensor)
    and return ``{name: (B, ...)}`` in execution order. ``grad=False`` runs under ``no_grad``; ``train`` sets
    the mode for the pass (None: leave it)."""
    taps = LayerTaps(model, config, **overrides)
    with taps, _mode(model, train), torch.set_grad_enabled(grad):
        if isinstance(batch, Tensor):
            model(batch)
        else:
            forward_batch(model, batch)
    return taps.outputs(_batch_size(batch))
