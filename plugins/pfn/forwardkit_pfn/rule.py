"""Prior-data fitting, the PFN training rule (paper sec. 3 eq. 1-2; official ``train.py``).

The prior-data NLL (eq. 2) l(theta) = E_{D ~ p(D)} [ - sum_{queries q} log q_theta(y_q | x_q, D_train) ] is
minimised by SGD on fresh synthetic datasets: minimising it over the prior minimises the expected KL divergence
between the posterior predictive and q_theta (Insight 1). Per step:

1. the batch holds B datasets from the prior dataset (``gp_prior`` / ``bnn_prior``; the trainer's batch_size is the
   number of datasets, the prior's seq_len their length T);
2. one number of training points s per (micro-)batch from the eval-position sampler (:mod:`.positions`);
3. the PFN's bar logits at the T - s queries, their Riemann NLL averaged over the queries (the run's
   ``bar_distribution`` task: ``ctx.loss_fn``);
4. AdamW (weight decay 0 by default), learning rate with a linear warm-up then cosine decay
   (get_cosine_schedule_with_warmup), gradient-norm clipping at 1.0, optional accumulation of ``accumulate``
   micro-batches (each with its own s) before one update (aggregate_k_gradients).

At setup the run's bar distribution (the task's borders) is attached to the model, as train.py does
(``model.criterion = criterion``); driven without a trainer (no task in ``ctx.extra``) the rule scores with the
model's own ``bar``. State: the update counter, the schedule length, the optimizer moments and the eval-position
generator, so a resumed run draws the same s and ends with the same weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import LearningRule, RunContext, finish_step
from forwardkit_pfn.bar import query_mask
from forwardkit_pfn.config import PriorFittingRuleConfig
from forwardkit_pfn.positions import sample_eval_pos

__all__ = ["PriorFittingRule", "cosine_with_warmup", "official_default_lr"]


def official_default_lr(n_parameters: int) -> float:
    """The official default learning rate when none is given: 0.003239 - 0.0001395 ln(#parameters)
    (utils.get_openai_lr)."""
    return 0.003239 - 0.0001395 * math.log(max(n_parameters, 1))


def cosine_with_warmup(step: int, total: int, warmup: int, schedule: str = "cosine") -> float:
    """The factor of the base learning rate at update ``step`` (0-based), as get_cosine_schedule_with_warmup:
    ``step / warmup`` during the warm-up, then ``0.5 (1 + cos(pi (step - warmup) / (total - warmup)))``
    (``schedule='constant'``: 1 after the warm-up)."""
    if step < warmup:
        return step / max(1, warmup)
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))))


def _small_pfn() -> nn.Module:
    import forwardkit

    return forwardkit.build_model({"name": "pfn_transformer", "d_model": 16, "n_heads": 2, "n_layers": 2,
                                   "d_ff": 16, "num_buckets": 10})


class PriorFittingRule(LearningRule):
    """``prior_fitting_rule``: one update of the PFN from a batch of prior datasets (see the module docstring)."""

    Config = PriorFittingRuleConfig
    config: PriorFittingRuleConfig
    conformance_models: ClassVar[tuple[Any, ...]] = (_small_pfn,)
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {"max_train_points": 5}, {"max_train_points": 4, "eval_pos_sampler": "uniform", "accumulate": 2, "lr": 1e-3,
                                  "schedule": "constant", "grad_clip": None},
    )
    conformance_experiment: ClassVar[dict[str, Any]] = {
        "data": {"name": "gp_prior", "seq_len": 12, "max_train_points": 8, "n_train_datasets": 128,
                 "n_val_datasets": 16, "n_test_datasets": 16},
        "model": {"name": "pfn_transformer", "d_model": 16, "n_heads": 2, "n_layers": 2, "d_ff": 16,
                  "num_buckets": 10},
        "trainer": {"task": {"name": "bar_distribution", "num_buckets": 10, "prior_sample_size": 2000}},
    }

    def __init__(self, config: PriorFittingRuleConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.optimizer: torch.optim.Optimizer | None = None
        self.updates = 0
        self.total_steps: int | None = self.config.total_steps
        self.base_lr = self.config.lr or 1e-3
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self._use_task = False
        self._model: nn.Module | None = None

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        c = self.config
        params = [p for p in model.parameters() if p.requires_grad]
        self.base_lr = c.lr if c.lr is not None else official_default_lr(sum(p.numel() for p in params))
        self.optimizer = torch.optim.AdamW(params, lr=self.base_lr, weight_decay=c.weight_decay)
        if self.total_steps is None:
            self.total_steps = int(ctx.total_steps)
        self._model = model
        task = ctx.extra.get("task")
        if task is not None:
            bar = getattr(task, "bar", None)
            if bar is None:
                raise ForwardkitError(f"prior_fitting_rule trains with the Riemann NLL: the run's task is "
                                      f"{type(task).__name__}; use the bar_distribution task (the prior datasets' "
                                      "default, or trainer.task: {name: bar_distribution})")
            attach = getattr(model, "attach_bar", None)
            if callable(attach):
                attach(bar)
            self._use_task = True

    # ---- pieces -----------------------------------------------------------------------------------------------
    def lr_at(self, step: int | None = None) -> float:
        """The learning rate of update ``step`` (default: the next one)."""
        t = self.updates if step is None else step
        total = max(self.total_steps or 1, 1)
        return self.base_lr * cosine_with_warmup(t, total, int(self.config.warmup_fraction * total),
                                                 self.config.schedule)

    def draw_eval_pos(self, seq_len: int) -> int:
        """One s for a (micro-)batch of datasets of ``seq_len`` points."""
        top = self.config.max_train_points
        if top >= seq_len:
            raise ForwardkitError(f"prior_fitting_rule.max_train_points ({top}) must be < the datasets' length "
                                  f"{seq_len}: every dataset needs a query point")
        return int(sample_eval_pos(seq_len, top, self.config.eval_pos_sampler, generator=self.generator)[0])

    def _loss(self, out: Tensor, batch: Mapping[str, Tensor], ctx: RunContext) -> Tensor:
        if self._use_task and ctx.loss_fn is not None:
            return ctx.loss_fn(out, batch)
        bar = getattr(self._model, "bar", None)
        if bar is None:
            raise ForwardkitError("prior_fitting_rule: no bar distribution to score with (no bar_distribution task "
                                  "in the run and the model has no 'bar')")
        nll, queries = bar.nll(out, batch["y"]), query_mask(batch, batch["y"].shape[-1])
        return (nll * queries).sum() / queries.sum().clamp(min=1)

    # ---- one step ---------------------------------------------------------------------------------------------
    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        assert self.optimizer is not None, "setup() must run first"
        x, y = batch["x"], batch["y"]
        if x.dim() != 3 or y.shape != x.shape[:2]:
            raise ForwardkitError(f"prior_fitting_rule expects batches of datasets x (B, T, d), y (B, T); got x "
                                  f"{tuple(x.shape)}, y {tuple(y.shape)}")
        t = x.shape[1] if self.config.seq_len is None else min(self.config.seq_len, x.shape[1])
        x, y = x[:, :t], y[:, :t]
        chunks = [c for c in torch.arange(x.shape[0]).chunk(self.config.accumulate) if c.numel()]
        lr = self.lr_at()
        self.optimizer.zero_grad(set_to_none=True)
        total, positions = 0.0, []
        for rows in chunks:
            s = self.draw_eval_pos(t)
            positions.append(s)
            micro = {"x": x[rows], "y": y[rows], "eval_pos": torch.full((rows.numel(),), s, dtype=torch.long,
                                                                        device=x.device)}
            loss = self._loss(ctx.run_forward(micro), micro, ctx) / len(chunks)
            loss.backward()
            total += float(loss.detach())
        metrics = {"loss": total, "eval_pos": sum(positions) / len(positions), "lr": lr}
        if not finish_step(self.optimizer, ctx, metrics, clip_norm=self.config.grad_clip, lr=lr):
            return metrics
        self.updates += 1
        return metrics

    # ---- state ------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "total_steps": self.total_steps, "base_lr": self.base_lr,
                "generator": self.generator.get_state(),
                "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.updates = int(state["updates"])
        self.total_steps = None if state.get("total_steps") is None else int(state["total_steps"])
        self.base_lr = float(state["base_lr"])
        self.generator.set_state(state["generator"])
        if state.get("optimizer") is not None:
            assert self.optimizer is not None, "setup() must run before load_state_dict()"
            self.optimizer.load_state_dict(state["optimizer"])
