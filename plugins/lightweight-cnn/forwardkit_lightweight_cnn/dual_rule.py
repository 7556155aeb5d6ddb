"""Stage 1 of the two-stage recipe: the dual-input-output learning rule ``dual_io_rule``.

Paper (Isong 2025), sec. "dual-input-output model": branch A is trained on the original images and branch B on
augmented ones, each with its own classification output. As a loss (the card's "Mechanism"):

    loss = CE(A(x), y) + CE(B(aug(x)), y)                                               (stage-1 loss)

with one optimizer over both branches and the same batches for both; the branches share no weight, so this is
two models trained in one loop. ``aug`` is :func:`~forwardkit_lightweight_cnn.augment.augment_images`, drawn from
the rule's own generator (saved in ``state_dict``, so resumed runs are exact).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import LearningRule, finish_step
from forwardkit.interfaces.context import RunContext
from forwardkit.interfaces.model import forward_batch
from forwardkit_lightweight_cnn.augment import Augmenter
from forwardkit_lightweight_cnn.config import DualIORuleConfig

SMALL_DUAL = {"name": "dual_io_model", "widths": [4, 8], "pool_after": [False, True], "input_size": [8, 8],
              "num_classes": 4, "in_channels": 1}


def dual_io_loss(output: Tensor, batch: Mapping[str, Tensor], loss_fn: Any) -> tuple[Tensor, Tensor, Tensor]:
    """``(loss, loss_A, loss_B)`` of a dual-IO output ``(B, 2, K)``: ``loss_fn(out[:, 0]) + loss_fn(out[:, 1])``."""
    if output.dim() != 3 or output.shape[1] != 2:
        raise ForwardkitError(f"dual_io_rule needs the (B, 2, K) output of a dual_io_model, got {tuple(output.shape)}")
    la, lb = loss_fn(output[:, 0], batch), loss_fn(output[:, 1], batch)
    return la + lb, la, lb


class DualIORule(LearningRule):
    """Trains a ``dual_io_model``: per batch, ``x_aug = aug(x)``; ``out = model(x, x_aug)`` ``(B, 2, K)``; the
    stage-1 loss; one optimizer step over every trainable parameter (frozen ones are not in the optimizer).

    ``ctx.loss_fn`` is applied to each branch's logits, so an adapter's extra loss counts once per branch.
    Evaluation scores branch A on the original images (``predict='a'``), branch B on them, or the mean logits.
    """

    Config = DualIORuleConfig
    config: DualIORuleConfig
    conformance_models = (SMALL_DUAL,)
    conformance_experiment = {"data": {"name": "blobs", "image_size": 8, "n_samples": 200, "clusters_per_class": 2},
                              "model": {k: v for k, v in SMALL_DUAL.items() if k not in ("num_classes", "in_channels",
                                                                                      "input_size")}}

    def __init__(self, config: DualIORuleConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.augment = Augmenter(self.config)
        self.optimizer: torch.optim.Optimizer | None = None

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        if not getattr(model, "dual_io", False):
            raise ForwardkitError(f"dual_io_rule trains a dual_io_model (two branches, output (B, 2, K)); got "
                                  f"{type(model).__name__}")
        cfg = self.config
        params = [p for p in model.parameters() if p.requires_grad]
        if cfg.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        elif cfg.optimizer == "adamw":
            self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        else:
            self.optimizer = torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        assert self.optimizer is not None and ctx.loss_fn is not None, "setup() must run first"
        self.optimizer.zero_grad(set_to_none=True)
        fed = {**batch, "x_aug": self.augment(batch["x"])}  # branch B sees only augmented images
        loss, la, lb = dual_io_loss(ctx.run_forward(fed), batch, ctx.loss_fn)
        loss.backward()
        metrics = {"loss": float(loss.detach()), "loss_a": float(la.detach()), "loss_b": float(lb.detach())}
        finish_step(self.optimizer, ctx, metrics)
        return metrics

    def predict(self, model: nn.Module, batch: Mapping[str, Tensor]) -> Any:
        """Logits ``(B, K)`` on the original images ``batch["x"]``: branch A, branch B or their mean."""
        out = forward_batch(model, {k: v for k, v in batch.items() if k != "x_aug"})
        if self.config.predict == "mean":
            return out.mean(dim=1)
        return out[:, 0] if self.config.predict == "a" else out[:, 1]

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
                **self.augment.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("optimizer") is not None:
            assert self.optimizer is not None, "setup() must run before load_state_dict()"
            self.optimizer.load_state_dict(state["optimizer"])
        self.augment.load_state_dict(state)
