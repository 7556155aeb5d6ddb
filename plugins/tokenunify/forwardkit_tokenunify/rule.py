"""The ``mixture_token_prediction`` learning rule: TokenUnify's three objectives on one dense network.

Per step, for the objectives active in the current phase (official code, ``engine_pretrain*.py``):

* ``random`` (stage 1, MAE-like): hide ``int(K r)`` random tokens (noise fill), ``out = sigmoid(net(x_masked))``,
  ``L_random = MSE(out, x)`` over all voxels, visible ones included;
* ``next`` and ``next_all`` (stage 2): with probability ``perturb_prob`` perturb the input, keep the prefix of
  ``k ~ U{1..K-1}`` tokens and fill the rest; one forward ``d = net(x_prefix)``;
  ``L_next_all = MSE(sigmoid(d), x_clean)`` (the whole image) and ``L_next = MSE(head(d), token_k)`` with token k
  cut from the perturbed input (``next_target: perturbed``, as the code) or the clean one;
* ``combine: sum``: ``w_random L_random + w_next L_next + w_next_all L_next_all`` (official auto_mode 1);
  ``alternate``: one objective at a time, switching every ``alternate_period_epochs`` epochs of the phase, read
  from the trainer's epoch (the official engine never passes the epoch, so its mode 0 stays on next-token).

The update is AdamW (betas 0.9, 0.95) with the global gradient norm clipped at 1.0, as the official scripts.
When a phase uses ``next`` the rule trains a next-token head: the model's own ``model.next_token_head`` if the
``next_token_head`` adapter attached one (its weights are then the model's, and a fine-tuning stage leaves it out
with ``carry.exclude``), else a head of the rule's, whose weights are part of the rule's state, so the model
keeps its architecture and a later stage carries it as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.interfaces import LearningRule, RunContext, finish_step
from forwardkit_tokenunify.config import MixtureTokenPredictionConfig, NextTokenHeadConfig, parse_ratio
from forwardkit_tokenunify.head import ATTR, NextTokenHead, build_next_token_head
from forwardkit_tokenunify.masking import next_token_target, prefix_inputs, random_inputs
from forwardkit_tokenunify.perturb import perturb

#: a small dense model and images for the conformance kit (the rule needs a dense output of the input's shape)
_SMALL_UNET = {"name": "tokenunify_unet", "widths": [4, 8], "input_size": [8, 8], "bottleneck_mixer": None}


def phase_bounds(fracs: list[float], epochs: int) -> list[int]:
    """The epoch at which each phase ends: ``round(cumulative frac x epochs)``, the last one ``epochs``."""
    out, acc = [], 0.0
    for f in fracs:
        acc += f
        out.append(round(acc * epochs))
    out[-1] = epochs
    return out


def active_phase(fracs: list[float], epoch: int, epochs: int) -> tuple[int, int]:
    """``(phase index, the epoch it started at)`` for 0-based ``epoch`` of ``epochs``."""
    start = 0
    for i, end in enumerate(phase_bounds(fracs, max(epochs, 1))):
        if epoch < end:
            return i, start
        start = end
    return len(fracs) - 1, start


class MixtureTokenPrediction(LearningRule):
    """TokenUnify's mixture token prediction (see the module docstring); state: optimizer, generator, updates."""

    Config = MixtureTokenPredictionConfig
    conformance_models = (_SMALL_UNET,)
    conformance_experiment = {
        "data": {"name": "synthetic_membranes", "role": "pretrain", "size": 8, "n_unlabelled": 24,
                 "cells_per_image": 3.0},
        "model": _SMALL_UNET,
        "trainer": {"batch_size": 4},
    }

    def __init__(self, config: MixtureTokenPredictionConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.optimizer: torch.optim.Optimizer | None = None
        self.generator: torch.Generator | None = None
        self.model: nn.Module | None = None
        #: the next-token head the rule trains: the model's (attached by the next_token_head adapter) or its own
        self.head: nn.Module | None = None
        self.own_head: NextTokenHead | None = None
        self.updates = 0
        self.ratio = parse_ratio(self.config.random_mask_ratio)

    # ---- set-up ----------------------------------------------------------------------------------
    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        cfg = self.config
        self.model = model
        attached = getattr(model, ATTR, None)
        self.head = attached if isinstance(attached, NextTokenHead) else self.own_head
        if cfg.uses("next") and self.head is None:
            self.own_head = self.head = build_next_token_head(
                model, NextTokenHeadConfig(patch=cfg.patch, hidden_channels=cfg.head_channels))
        params = list(model.parameters())
        if self.own_head is not None and self.head is self.own_head:
            params += list(self.own_head.parameters())
        decay = [p for p in params if p.requires_grad and p.ndim >= 2]
        rest = [p for p in params if p.requires_grad and p.ndim < 2]
        groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
        if cfg.optimizer == "adamw":
            self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)
        else:
            self.optimizer = torch.optim.Adam(decay + rest, lr=cfg.lr, betas=cfg.betas)
        if self.generator is None:
            start = cfg.seed if cfg.seed is not None else int(torch.randint(0, 2**62, (1,)))
            self.generator = torch.Generator().manual_seed(start)

    # ---- schedule --------------------------------------------------------------------------------
    def objectives(self, epoch: int, epochs: int) -> list[str]:
        """The objectives trained at 0-based ``epoch`` of a run of ``epochs``, after ``combine``."""
        cfg = self.config
        index, start = active_phase([p.epochs_frac for p in cfg.phases], epoch, epochs)
        objs = list(cfg.phases[index].objectives)
        if cfg.combine == "alternate" and len(objs) > 1:
            return [objs[((epoch - start) // cfg.alternate_period_epochs) % len(objs)]]
        return objs

    def current_lr(self, ctx: RunContext) -> float:
        cfg = self.config
        warm = round(cfg.warmup_epochs * ctx.steps_per_epoch)
        step = self.updates
        if step < warm:
            return cfg.lr * (step + 1) / warm
        if cfg.schedule == "cosine":
            progress = min((step - warm) / max(ctx.total_steps - warm, 1), 1.0)
            return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * progress))
        return cfg.lr

    # ---- the objectives --------------------------------------------------------------------------
    def losses(self, model: nn.Module, x: Tensor, objectives: list[str]) -> dict[str, Tensor]:
        """The loss of each active objective on images ``x`` ``(B, *spatial, C)`` (draws from the generator)."""
        cfg, gen = self.config, self.generator
        patch = tuple(cfg.patch)
        out: dict[str, Tensor] = {}
        if "random" in objectives:
            masked, _ = random_inputs(x, patch, *self.ratio, fill=cfg.fill, generator=gen)
            out["random"] = F.mse_loss(torch.sigmoid(self._forward(model, masked, x)), x)
        autoregressive = [o for o in objectives if o in ("next", "next_all")]
        if autoregressive:
            x_in, _ = perturb(x, cfg.perturb_prob, cfg.perturbations, generator=gen)
            prefixed, k = prefix_inputs(x_in, patch, fill=cfg.fill, generator=gen)
            dense = self._forward(model, prefixed, x)
            if "next_all" in autoregressive:
                out["next_all"] = F.mse_loss(torch.sigmoid(dense), x)
            if "next" in autoregressive and cfg.w_next > 0:
                head = self.head
                assert head is not None, "setup() attaches the head when a phase uses 'next'"
                target = next_token_target(x_in if cfg.next_target == "perturbed" else x, k, patch)
                out["next"] = F.mse_loss(head(dense), target)
        return out

    @staticmethod
    def _forward(model: nn.Module, x_in: Tensor, x: Tensor) -> Tensor:
        dense = model(x_in)
        if not isinstance(dense, Tensor) or dense.shape != x.shape:
            shape = tuple(dense.shape) if isinstance(dense, Tensor) else type(dense).__name__
            raise ValueError(f"mixture_token_prediction needs a dense model whose output has the input's shape "
                             f"{tuple(x.shape)} (B, *spatial, C); got {shape}")
        return dense

    # ---- the step --------------------------------------------------------------------------------
    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        assert self.optimizer is not None and self.model is not None, "setup() must run first"
        cfg = self.config
        model = self.model
        x = batch[cfg.input_key]
        if x.dim() < 3:
            raise ValueError(f"mixture_token_prediction expects images (B, *spatial, C) under {cfg.input_key!r}, "
                             f"got shape {tuple(x.shape)}")
        objectives = self.objectives(ctx.epoch, ctx.epochs)
        self.optimizer.zero_grad(set_to_none=True)
        parts = self.losses(model, x.float(), objectives)
        weights = {"random": cfg.w_random, "next": cfg.w_next, "next_all": cfg.w_next_all}
        total = sum((weights[k] * v for k, v in parts.items()), torch.zeros((), device=x.device))
        if total.requires_grad:
            total.backward()
        metrics: dict[str, float] = {"loss": float(total.detach())}
        metrics.update({f"loss_{k}": float(v.detach()) for k, v in parts.items()})
        lr = self.current_lr(ctx)
        if not finish_step(self.optimizer, ctx, metrics, clip_norm=cfg.grad_clip_norm, lr=lr):
            return metrics
        self.updates += 1
        metrics["lr"] = lr
        return metrics

    # ---- state -----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
                "head": dict(self.own_head.state_dict()) if self.own_head is not None else None,
                "generator": self.generator.get_state() if self.generator is not None else None,
                "updates": self.updates}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.updates = int(state["updates"])
        if state.get("head") is not None:
            assert self.own_head is not None, "setup() must run before load_state_dict()"
            self.own_head.load_state_dict(state["head"])
        if state.get("optimizer") is not None:
            assert self.optimizer is not None, "setup() must run before load_state_dict()"
            self.optimizer.load_state_dict(state["optimizer"])
        if state.get("generator") is not None:
            if self.generator is None:
                self.generator = torch.Generator()
            self.generator.set_state(state["generator"])
