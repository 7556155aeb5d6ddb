"""``truncated_bptt``: truncated backpropagation through time (survey sec. 3.2; Williams & Peng 1990).

Each sequence of a batch ``x`` ``(B, L, F)`` is cut into windows of ``k`` steps ``[0, k), [k, 2k), ...``.
The windows run in order, each from the recurrent state the previous one ended in, *detached*: the forward
computation is exactly the whole sequence's, but no gradient crosses a window boundary, so backpropagation
costs ``O(k)`` memory and the gradient of a loss at step t reaches only the inputs and states of its own
window. The losses:

* an output at every step (tagging): each window's loss on its own targets, weighted by its share of the
  sequence (``w / L``), backpropagated right after the window; the sum is the whole sequence's mean loss;
* an output at the last step only (regression, classification): the last window's loss; the windows before
  it only carry the state forward (under ``no_grad``, since nothing could flow back into them).

Gradients accumulate over the windows and one clipped optimizer step follows (``ctx.after_backward()`` once,
in between). With ``k >= L`` there is one window and the gradients are full BPTT's. The model streams
through ``ctx.run_forward`` with the carried state in the batch (``rnn_state``, see
:mod:`forwardkit_rnn_review.model`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import LearningRule, RunContext, finish_step
from forwardkit_rnn_review.config import TruncatedBPTTConfig
from forwardkit_rnn_review.model import STATE_KEY

Forward = Callable[[Mapping[str, Tensor]], Any]
Loss = Callable[[Any, Mapping[str, Tensor]], Tensor]

SMALL_MODEL: dict[str, Any] = {"name": "rnn_sequence_model", "dim": 8, "example_length": 10,
                               "token_mixer": {"name": "lstm_mixer", "backend": "torch"}}


def windows(length: int, k: int) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` of the windows of ``k`` steps covering ``range(length)`` (the last may be shorter)."""
    return [(s, min(s + k, length)) for s in range(0, length, k)]


def truncated_bptt_backward(forward: Forward, loss_fn: Loss, batch: Mapping[str, Tensor], *, k: int,
                            init_state: Tensor, per_position: bool) -> float:
    """Backpropagate the loss of one batch with truncation every ``k`` steps; returns the loss (a float).

    ``forward(window_batch) -> (output, state)`` runs the model on ``batch`` with ``x`` (and, for a per-step
    output, ``y``) cut to the window and the carried state under ``rnn_state``; ``loss_fn(output,
    window_batch)`` is the task's loss. ``init_state`` is the state before step 0. Gradients are
    *accumulated* into ``.grad`` (zero them before)."""
    x, length = batch["x"], batch["x"].shape[1]
    state, total = init_state, 0.0
    spans = windows(length, k)
    for start, end in spans:
        part = {**batch, "x": x[:, start:end], STATE_KEY: state}
        if per_position:
            part["y"] = batch["y"][:, start:end]
            out, state = forward(part)
            loss = loss_fn(out, part) * ((end - start) / length)
        elif end == length:
            out, state = forward(part)
            loss = loss_fn(out, part)
        else:  # only carries the state to the next window: no gradient could flow back here
            with torch.no_grad():
                _, state = forward(part)
            continue
        loss.backward()
        total += float(loss.detach())
        state = state.detach()  # the truncation: the next window starts from a constant
    return total


def make_optimizer(params: list[nn.Parameter], cfg: TruncatedBPTTConfig) -> torch.optim.Optimizer:
    """The configured optimizer over ``params`` (constant learning rate)."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.AdamW
    return cls(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


class TruncatedBPTT(LearningRule):
    """Truncated BPTT with windows of ``k`` steps, global-norm clipping and Adam (see the module docstring).
    The model must stream (``rnn_sequence_model`` with a unidirectional recurrent mixer)."""

    Config = TruncatedBPTTConfig
    config: TruncatedBPTTConfig
    #: one config for the kit (each check_resume runs three short trainings): windows of 4 on sequences of 6
    conformance_configs: ClassVar[list[dict[str, Any]]] = [{"k": 4}]
    conformance_models: ClassVar[list[dict[str, Any]]] = [SMALL_MODEL]
    conformance_experiment: ClassVar[dict[str, Any]] = {
        "data": {"name": "adding_problem", "length": 6, "num_train": 64, "num_val": 8, "num_test": 8},
        "model": {"name": "rnn_sequence_model", "dim": 4, "mlp_ratio": 1.0,
                  "token_mixer": {"name": "lstm_mixer", "backend": "torch"}},
        "trainer": {"batch_size": 16}}

    def __init__(self, config: TruncatedBPTTConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.optimizer: torch.optim.Optimizer | None = None
        self.updates = 0

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        if not getattr(model, "streamable", False):
            raise ForwardkitError("truncated_bptt trains a model that streams its recurrent state: "
                                  "rnn_sequence_model with elman_rnn_mixer, lstm_mixer or gru_mixer")
        self.optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], self.config)

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        assert self.optimizer is not None and ctx.loss_fn is not None, "setup() must run first"
        model: Any = ctx.model
        self.optimizer.zero_grad(set_to_none=True)
        x = batch["x"]
        loss = truncated_bptt_backward(ctx.run_forward, ctx.loss_fn, batch, k=self.config.k,
                                       init_state=model.init_state(x.shape[0], like=x),
                                       per_position=model.per_position)
        metrics = {"loss": loss, "windows": float(len(windows(x.shape[1], self.config.k)))}
        if not finish_step(self.optimizer, ctx, metrics, clip_norm=self.config.clip_norm):
            return metrics
        self.updates += 1
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
                "updates": self.updates}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.updates = int(state["updates"])
        if state.get("optimizer") is not None:
            assert self.optimizer is not None, "setup() must run before load_state_dict()"
            self.optimizer.load_state_dict(state["optimizer"])
