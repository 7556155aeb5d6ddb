"""The two pre-training rules of the card: ``look_loss`` (LOOK, paper sec. 3) and ``ce_baseline`` (plain CE).

Both share one optimizer loop (:class:`_OptimizerRule`), so a comparison of the two differs in the loss only:

* ``ce_baseline``: the task's cross-entropy on the model's own linear head;
* ``look_loss``: the feature the model feeds its head (``feature_layer``'s input, ``(B, D)``) goes through the
  rule's projection MLP ``D -> proj_hidden -> embed_dim`` and is L2-normalised to ``z``; the loss is the
  leave-one-out kNN loss of :func:`~forwardkit_look_pretraining.knn.look_loss` against the rule's memory bank,
  which is updated after the step (step 6). The model's head is not trained (it gets no gradient); evaluation
  predicts with the kNN classifier over the bank (``predict``), so ``val``/``test`` accuracy is LOOK's own
  upstream accuracy. The projection head and the bank belong to the rule: they are in its ``state_dict`` (with the
  optimizer state), so a run resumes exactly; a probe stage drops them with the rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import LearningRule, RunContext, finish_step
from forwardkit_look_pretraining.bank import MemoryBank
from forwardkit_look_pretraining.config import CEBaselineConfig, LookLossConfig, OptimizerFields
from forwardkit_look_pretraining.knn import knn_class_log_probs, look_loss
from forwardkit_look_pretraining.tap import feature_dim, tapped_forward

__all__ = ["CEBaseline", "LookRule", "projection_head"]

#: a small experiment for the kit's exact-resume checks: 8x8 digits, a narrow CNN, one epoch of 4 batches
_KIT_EXPERIMENT: dict[str, Any] = {
    "data": {"name": "coarse_label_digits", "source": "sklearn_digits", "val_fraction": 0.0, "test_fraction": 0.5,
             "train_per_class": 6},
    "model": {"name": "look_cnn", "widths": [4, 8], "pool_blocks": 1, "image_size": 8},
    "trainer": {"batch_size": 16, "epochs": 2},
}
_KIT_MODELS: tuple[Any, ...] = ({"name": "look_cnn", "widths": [4, 8], "pool_blocks": 1, "image_size": 8},)


def projection_head(in_dim: int, hidden: int, out_dim: int) -> nn.Module | None:
    """The card's projection MLP ``Linear(D, h) -> ReLU -> Linear(h, d)`` (None for ``hidden = 0``: z = feature)."""
    if hidden == 0:
        return None
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out_dim))


class _OptimizerRule(LearningRule):
    """The loop both rules share: zero grads, forward, loss, backward, ``after_backward``, one optimizer update."""

    config: OptimizerFields
    conformance_experiment: ClassVar[dict[str, Any]] = _KIT_EXPERIMENT
    conformance_models: ClassVar[tuple[Any, ...]] = _KIT_MODELS

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.optimizer: torch.optim.Optimizer | None = None
        self.model: nn.Module | None = None
        self.updates = 0

    def extra_parameters(self) -> list[nn.Parameter]:
        return []

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        self.model = model
        params = [p for p in model.parameters() if p.requires_grad] + self.extra_parameters()
        c = self.config
        if c.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=c.lr, momentum=c.sgd_momentum, weight_decay=c.weight_decay)
        elif c.optimizer == "adamw":
            self.optimizer = torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
        else:
            self.optimizer = torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)

    def loss(self, batch: Mapping[str, Tensor], ctx: RunContext) -> tuple[Tensor, dict[str, float], Any]:
        raise NotImplementedError  # pragma: no cover

    def after_update(self, state: Any) -> None:
        """What follows a successful update (LOOK: the bank update)."""

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        if self.optimizer is None:
            raise ForwardkitError(f"{type(self).__name__}: setup() must run before step()")
        if self.config.label_key not in batch:
            raise ForwardkitError(f"the batch has no labels {self.config.label_key!r} (label_key; its keys: "
                                  f"{', '.join(sorted(batch))})")
        self.optimizer.zero_grad(set_to_none=True)
        loss, metrics, state = self.loss(batch, ctx)
        loss.backward()
        metrics = {"loss": float(loss.detach()), **metrics}
        if not finish_step(self.optimizer, ctx, metrics):
            return metrics
        self.updates += 1
        self.after_update(state)
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates,
                "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.updates = int(state["updates"])
        if state.get("optimizer") is not None:
            if self.optimizer is None:
                raise ForwardkitError(f"{type(self).__name__}: setup() must run before load_state_dict()")
            self.optimizer.load_state_dict(state["optimizer"])


class CEBaseline(_OptimizerRule):
    """``ce_baseline``: cross-entropy pre-training (the task's loss on the model's logits), the card's baseline."""

    Config = CEBaselineConfig
    config: CEBaselineConfig

    def loss(self, batch: Mapping[str, Tensor], ctx: RunContext) -> tuple[Tensor, dict[str, float], Any]:
        if ctx.loss_fn is None:
            raise ForwardkitError("ce_baseline: the run context has no loss_fn")
        out = ctx.run_forward(batch)
        return ctx.loss_fn(out, batch), {}, None


class LookRule(_OptimizerRule):
    """``look_loss``: supervised pre-training with the leave-one-out kNN loss over a memory bank (LOOK).

    Batches need the labels ``y`` and the dataset indices ``idx`` (the bank slots; ``coarse_label_digits`` has
    them). Evaluation: weighted kNN (k, tau) over the bank, as log-probabilities per class (``predict``).
    Single-process only: the bank is not shared between the processes of a distributed run.
    """

    Config = LookLossConfig
    config: LookLossConfig

    def __init__(self, config: LookLossConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.head: nn.Module | None = None
        self.bank: MemoryBank | None = None
        self.in_dim: int | None = None

    # ---- set-up ---------------------------------------------------------------------------------
    def _embed_dim(self) -> int:
        assert self.in_dim is not None
        return self.config.embed_dim if self.config.proj_hidden else self.in_dim

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        c = self.config
        if ctx.world_size > 1:
            raise ForwardkitError("look_loss keeps one memory bank in one process; distributed runs (world size "
                                  f"{ctx.world_size}) are not supported")
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        if self.head is None and self.bank is None:  # first set-up; model_changed keeps the head and the bank
            dim = feature_dim(model, c.feature_layer)
            if dim is None:
                raise ForwardkitError(f"look_loss: cannot tell the feature size: feature_layer {c.feature_layer!r} "
                                      "must name a module with in_features (a Linear head), e.g. 'head'")
            self.in_dim = dim
            self.head = projection_head(dim, c.proj_hidden, c.embed_dim)
            if self.head is not None:
                self.head.to(device)
            self.bank = MemoryBank(dim=self._embed_dim(), init=c.bank_init, size=c.bank_size, seed=c.seed,
                                   device=device)
        super().setup(model, ctx)

    def extra_parameters(self) -> list[nn.Parameter]:
        return list(self.head.parameters()) if self.head is not None else []

    # ---- the loss -------------------------------------------------------------------------------
    def embed(self, feature: Tensor) -> Tensor:
        """``z = normalize(g(f))`` ``(B, d)`` from the feature ``(B, D)`` (g: the projection head, or identity)."""
        h = self.head(feature) if self.head is not None else feature
        return F.normalize(h, dim=1)

    def loss(self, batch: Mapping[str, Tensor], ctx: RunContext) -> tuple[Tensor, dict[str, float], Any]:
        c = self.config
        assert self.bank is not None
        if c.index_key not in batch:
            raise ForwardkitError(f"look_loss needs the dataset index of every sample (batch key {c.index_key!r}, "
                                  f"index_key) to exclude its own bank slot and update it; the batch has "
                                  f"{', '.join(sorted(batch))}. Use a dataset that yields it (coarse_label_digits)")
        idx, labels = batch[c.index_key].long().flatten(), batch[c.label_key].long().flatten()
        feature, _ = tapped_forward(self.model if self.model is not None else ctx.model, batch, c.feature_layer,
                                    ctx.run_forward)
        z = self.embed(feature)
        bank = self.bank
        bank.check_indices(idx)
        if c.bank_init == "first_epoch_forward":
            bank.write_new(idx, z, labels)
        per_sample = look_loss(z, bank.vectors, bank.labels, labels, k=c.k, tau=c.tau, idx=idx, valid=bank.valid(),
                               empty_policy=c.empty_policy, eps=c.eps, chunk_size=c.chunk_size, reduction="none")
        loss = per_sample.mean()
        metrics = {"knn_p_gt_half": float((per_sample.detach() < 0.6931471805599453).float().mean()),
                   "bank_filled": float(bank.filled.float().mean())}
        return loss, metrics, (idx, z.detach(), labels)

    def after_update(self, state: Any) -> None:
        idx, z, labels = state
        assert self.bank is not None
        self.bank.update(idx, z, labels, self.config.momentum)

    # ---- evaluation -----------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, model: nn.Module, batch: Mapping[str, Tensor]) -> Any:
        """Log-probabilities ``(B, C)`` of the weighted kNN classifier over the bank (C: the model's outputs);
        the model's own output while the bank is still empty."""
        c = self.config
        feature, out = tapped_forward(model, batch, c.feature_layer)
        bank = self.bank
        if bank is None or len(bank) == 0 or not bool((bank.labels >= 0).any()) or not isinstance(out, Tensor):
            return out
        was = self.head.training if self.head is not None else False
        if self.head is not None:
            self.head.eval()
        z = self.embed(feature)
        if self.head is not None:
            self.head.train(was)
        valid = bank.filled & (bank.labels >= 0)
        return knn_class_log_probs(z, bank.vectors, bank.labels, num_classes=int(out.shape[-1]), k=c.k, tau=c.tau,
                                   valid=valid, chunk_size=c.chunk_size)

    # ---- state ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["head"] = {k: v.detach().cpu().clone() for k, v in self.head.state_dict().items()} \
            if self.head is not None else {}
        state["bank"] = self.bank.state_dict() if self.bank is not None else None
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if self.head is not None and state.get("head"):
            self.head.load_state_dict(dict(state["head"]))
        if self.bank is not None and state.get("bank") is not None:
            self.bank.load_state_dict(state["bank"])
        super().load_state_dict(state)
