"""``model_free_ff``: model-free forward-forward training of a ``hybrid_pnn`` (card "Mechanism", the code's
``FNet.train`` / ``Layer.train``).

Per batch: the positive stream is ``x`` with its true label overlaid, the negative stream ``x`` with a wrong
label drawn uniformly (fresh every batch). Then, block by block (k = 1..K):

1. both streams go through the physical layer ``Phys_k`` once: ``2 B`` queries, detached measurements;
2. ``W_k`` alone takes ``inner_steps`` Adam steps on ``loss_k = mean softplus(-alpha (g_k(pos) - g_k(neg)))``,
   computed from those measurements (no gradient crosses the physics: there is no model of it);
3. both streams leave the block as ``W_k z_k`` (with the updated ``W_k``, detached) and feed block k + 1.

So training needs ``2 K`` physical evaluations per sample and ``K x inner_steps`` digital forward/backward
passes of a single Linear. Inference is the model's own forward (C x K evaluations per sample).
``ctx.after_backward()`` runs once per step, after the first backward pass (block 1's gradient of its
first inner step); a callback that stops the run there cancels the whole step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import LearningRule, RunContext
from forwardkit_model_free_ff.config import ModelFreeFFConfig
from forwardkit_model_free_ff.goodness import ff_pairwise_loss
from forwardkit_model_free_ff.overlay import wrong_labels

#: the small hybrid_pnn the conformance kit trains the rules on
SMALL_PNN: dict[str, Any] = {"name": "hybrid_pnn", "in_features": 16, "num_classes": 4, "hidden": 12,
                             "physics": {"name": "simulated_optical", "out_dim": 12}}
#: the kit's resume experiment: blobs (16 features, 4 classes), 1 % detection noise (its state must resume too)
SMALL_EXPERIMENT: dict[str, Any] = {
    "model": {"name": "hybrid_pnn", "hidden": 12,
              "physics": {"name": "simulated_optical", "out_dim": 12, "noise_std": 0.01}},
    "trainer": {"epochs": 2, "batch_size": 48},  # 3 steps an epoch: the kit interrupts at step 5
}


def check_pnn(model: nn.Module, rule: str) -> Any:
    """``model`` if it is a hybrid PNN (blocks of physics + Linear), else a clear error."""
    needed = ("physics", "linears", "digital", "block_goodness", "inject", "num_blocks")
    if not all(hasattr(model, a) for a in needed):
        raise ForwardkitError(f"{rule} trains the blocks of a 'hybrid_pnn' model, got {type(model).__name__}")
    return model


def contrastive_inputs(model: Any, batch: Mapping[str, Tensor], generator: torch.Generator
                       ) -> tuple[Tensor, Tensor]:
    """Positive and negative label-injected inputs ``(B, input_width)`` of a batch: true labels and labels drawn
    uniformly from the wrong classes, both with the same overlay value (max |x| of the batch)."""
    x = model.flatten(batch["x"])
    y = batch["y"].reshape(-1)
    value = model.overlay_value(x)
    return model.inject(x, y, value), model.inject(x, wrong_labels(y, model.num_classes, generator), value)


def block_loss(model: Any, k: int, z_pos: Tensor, z_neg: Tensor, alpha: float) -> Tensor:
    """``loss_k`` of block ``k`` on its measured inputs ``(B, M)`` of the positive and negative streams."""
    _, a_pos = model.digital(k, z_pos)
    _, a_neg = model.digital(k, z_neg)
    return ff_pairwise_loss(model.block_goodness(k, a_pos), model.block_goodness(k, a_neg), alpha)


def train_block(model: Any, k: int, z_pos: Tensor, z_neg: Tensor, optimizer: torch.optim.Optimizer, *,
                alpha: float, inner_steps: int, before_first_update: Any = None) -> list[float]:
    """``inner_steps`` Adam steps of block ``k``'s Linear alone on the same measured ``(pos, neg)`` pair
    (``(B, M)`` each, detached); returns the losses. ``before_first_update()`` runs after the first backward
    pass and may return True to cancel every update."""
    losses: list[float] = []
    for i in range(inner_steps):
        loss = block_loss(model, k, z_pos, z_neg, alpha)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if i == 0 and before_first_update is not None and before_first_update(float(loss.detach())):
            return losses
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


class ModelFreeFF(LearningRule):
    """Layer-local, model-free forward-forward training of a ``hybrid_pnn`` (see the module doc)."""

    Config = ModelFreeFFConfig
    config: ModelFreeFFConfig
    conformance_configs: ClassVar[list[dict[str, Any]]] = [{"inner_steps": 2}]
    conformance_models: ClassVar[list[dict[str, Any]]] = [SMALL_PNN]
    conformance_experiment: ClassVar[dict[str, Any]] = SMALL_EXPERIMENT

    def __init__(self, config: ModelFreeFFConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.optimizers: list[torch.optim.Optimizer | None] = []

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        pnn = check_pnn(model, "model_free_ff")
        if ctx.world_size > 1:
            raise ForwardkitError("model_free_ff trains block by block and does not support DDP runs")
        self.optimizers = []
        for lin in pnn.linears:
            params = [p for p in lin.parameters() if p.requires_grad]
            self.optimizers.append(torch.optim.Adam(params, lr=self.config.lr, weight_decay=self.config.weight_decay)
                                   if params else None)

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        model: Any = ctx.model
        cfg = self.config
        h_pos, h_neg = contrastive_inputs(model, batch, self.generator)
        b = h_pos.shape[0]
        metrics: dict[str, float] = {}
        pending, stopped = [True], [False]  # after_backward not yet called this step; a callback stopped it

        def first_update(loss: float) -> bool:
            pending[0] = False
            ctx.last_metrics = {"loss": loss}
            ctx.after_backward()
            stopped[0] = ctx.should_stop
            return stopped[0]

        total = 0.0
        for k in range(model.num_blocks):
            z = model.physics[k](torch.cat([h_pos, h_neg]))  # the black box: 2B queries, detached
            z_pos, z_neg = z[:b], z[b:]
            opt = self.optimizers[k]
            if opt is not None:
                losses = train_block(model, k, z_pos, z_neg, opt, alpha=cfg.alpha, inner_steps=cfg.inner_steps,
                                     before_first_update=first_update if pending[0] else None)
                if stopped[0]:
                    return {"loss": float(ctx.last_metrics.get("loss", 0.0))}
                metrics[f"loss_b{k + 1}"] = sum(losses) / len(losses)
                total += metrics[f"loss_b{k + 1}"]
            with torch.no_grad():
                pre, act = model.digital(k, z)
                h = model.next_input(pre, act)
            h_pos, h_neg = h[:b], h[b:]
        if pending[0]:  # nothing trainable: callbacks still see the step
            ctx.last_metrics = {"loss": total}
            ctx.after_backward()
        metrics["loss"] = total
        metrics["physical_queries"] = float(model.queries())
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": [opt.state_dict() if opt is not None else None for opt in self.optimizers],
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        saved = state.get("optimizers", [])
        if saved:
            assert len(saved) == len(self.optimizers), "setup() must run on the same model before load_state_dict()"
        for opt, s in zip(self.optimizers, saved, strict=False):
            if opt is not None and s is not None:
                opt.load_state_dict(s)
        if "generator" in state:
            self.generator.set_state(state["generator"].clone())
