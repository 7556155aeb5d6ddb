"""NHL, the test-time rule (paper Fig. 2): soft Hebbian early layer + entropy-tuned neuro-modulator, per test batch.

A learning rule with ``adapts_at_test_time`` (name it under an experiment's ``test_time.rule``; it does not
train). At every episode start (``begin_episode``) it finds the early layer and the neuro-modulator(s)
inserted by the ``neuro_modulator`` adapter, freezes every parameter but the modulators', switches the
batch norms to test-batch statistics (``bn_mode``) and builds the modulator's optimizer. Then, for each
unlabelled test batch (``adapt``), ``steps_per_batch`` times:

1. the early layer is updated by the soft Hebbian rule from its own input patches
   (:func:`~forwardkit_neuro_hebbian.hebbian.soft_hebbian_update_`: local, no gradient, no label); it runs
   as a pre-forward hook, so the forward that follows already uses the updated filters;
2. the modulator takes one optimiser step on the mean prediction entropy
   ``L = mean_b H(softmax(f(x_b)))``, ``H(p) = -sum_c p_c log p_c`` (Tent's loss, paper eq. for the
   feedback), back-propagated from the frozen top layers down to the modulator only;

3. the batch is predicted by the adapted model, and that output is what the task scores ("predictions for
   batch t after adapting on batch t"). With ``episodic`` the source model and a fresh optimizer are then
   restored.

The ablations and baselines are the same rule with parts switched off (each registered under its own name
with its own defaults): ``hebbian_only`` (no modulator), ``modulator_only`` (no Hebbian step), ``bn_adapt``
(neither: test-batch statistics only) and ``source_only`` (neither, source statistics: the unadapted model).
Labels are never read: the engine removes the task's targets from the batches, and the rule reads only
``forward_batch(model, batch)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import LearningRule, RunContext
from forwardkit.interfaces.model import forward_batch
from forwardkit_neuro_hebbian.config import (
    BNAdaptConfig,
    HebbianOnlyConfig,
    ModulatorOnlyConfig,
    NHLConfig,
    SourceOnlyConfig,
)
from forwardkit_neuro_hebbian.hebbian import layer_weight, plastic, soft_hebbian_update_
from forwardkit_neuro_hebbian.modulator import early_layer, modulators

__all__ = ["BNAdapt", "HebbianOnly", "ModulatorOnly", "NHLTestTimeRule", "SourceOnly", "entropy", "kit_model"]


def entropy(logits: Tensor) -> Tensor:
    """Per-sample Shannon entropy of ``softmax(logits)`` over the last axis, ``(B, K) -> (B,)``."""
    return -(logits.softmax(-1) * logits.log_softmax(-1)).sum(-1)


def kit_model() -> nn.Module:
    """The conformance kit's model: a tiny ``nhl_cnn`` (8x8x1 images, 4 classes) with a neuro-modulator."""
    from forwardkit_neuro_hebbian.cnn import NHLCNN
    from forwardkit_neuro_hebbian.modulator import apply_neuro_modulator

    return apply_neuro_modulator(NHLCNN(in_channels=1, num_classes=4, channels=[4, 8], pool_size=2, image_size=8))


class NHLTestTimeRule(LearningRule):
    """Neuro-modulated Hebbian learning (``nhl``) at test time: see the module docstring."""

    Config = NHLConfig
    config: NHLConfig
    adapts_at_test_time = True
    trains = False  # step() refuses: it adapts at test time only
    conformance_models = (kit_model,)
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {},
        {"episodic": True, "mod_optimizer": "sgd"},
        {"order": "mod_then_hebb", "steps_per_batch": 2, "hebbian": {"patch_subsample": 5, "update_bias": True}},
    )

    def __init__(self, config: NHLConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.optimizer: torch.optim.Optimizer | None = None
        self.layer: nn.Module | None = None
        self.params: list[nn.Parameter] = []
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.batches = 0
        self.source: dict[str, Tensor] | None = None
        self.source_weight: Tensor | None = None
        self.last_metrics: dict[str, float] = {}
        self._pending: Mapping[str, Any] | None = None

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        raise ForwardkitError(f"{type(self).__name__} adapts at test time only: train with another learning rule "
                              "(backprop) and name this one under test_time.rule")

    # ---- episode ---------------------------------------------------------------------------------
    def begin_episode(self, model: nn.Module, ctx: RunContext) -> None:
        """Find the early layer and the modulators, freeze the rest, set the batch norms, build the optimizer."""
        cfg = self.config
        _, self.layer = early_layer(model, cfg.layer)
        found = modulators(model)
        if cfg.use_modulator and not found:
            raise ForwardkitError(f"{type(self).__name__}: the model has no neuro-modulator to adapt; add the "
                                  "'neuro_modulator' adapter to the experiment (or set use_modulator: false)")
        model.requires_grad_(False)
        self.params = [p for m in found for p in m.parameters()] if cfg.use_modulator else []
        for p in self.params:
            p.requires_grad_(True)
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train(cfg.bn_mode == "test_stats")
        self.optimizer = self._optimizer()
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.batches = 0
        self.source = {k: v.detach().clone() for k, v in model.state_dict().items()} if cfg.episodic else None
        self.source_weight = layer_weight(self.layer).detach().clone()
        self.last_metrics = {}
        if self._pending is not None:
            pending, self._pending = self._pending, None
            self.load_state_dict(pending)

    def _optimizer(self) -> torch.optim.Optimizer | None:
        cfg = self.config
        if not self.params:
            return None
        if cfg.mod_optimizer == "adam":
            return torch.optim.Adam(self.params, lr=cfg.mod_lr)
        return torch.optim.SGD(self.params, lr=cfg.mod_lr, momentum=cfg.momentum)

    # ---- one batch -------------------------------------------------------------------------------
    def _hebbian(self, log: list[dict[str, float]]) -> AbstractContextManager[None]:
        if not self.config.use_hebbian:
            return nullcontext()
        assert self.layer is not None
        return plastic(self.layer, self.config.hebbian, generator=self.generator, log=log)

    def _entropy_step(self, logits: Tensor) -> float:
        assert self.optimizer is not None
        loss = entropy(logits).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def _one_step(self, model: nn.Module, batch: Mapping[str, Tensor], log: list[dict[str, float]]) -> Tensor | None:
        """One Hebbian + modulator step; returns the logits of the current model if they are still current."""
        cfg = self.config
        if cfg.order == "hebb_then_mod":
            with self._hebbian(log), torch.set_grad_enabled(bool(self.params)):
                logits = forward_batch(model, batch)          # the Hebbian step runs first, in the pre-hook
            if not self.params:
                return logits.detach()
            self._entropy_step(logits)
            return None
        captured: list[Tensor] = []
        handle = None
        if cfg.use_hebbian:
            assert self.layer is not None
            handle = self.layer.register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach()))
        try:
            with torch.set_grad_enabled(bool(self.params)):
                logits = forward_batch(model, batch)
        finally:
            if handle is not None:
                handle.remove()
        if self.params:
            self._entropy_step(logits)
        for x in captured:
            assert self.layer is not None
            log.append(soft_hebbian_update_(self.layer, x, cfg.hebbian, self.generator))
        return None if (self.params or captured) else logits.detach()

    def adapt(self, model: nn.Module, batch: Mapping[str, Tensor], ctx: RunContext) -> Tensor:
        """Adapt on one unlabelled batch, then return the adapted model's output for it (what is scored)."""
        assert self.layer is not None and self.source_weight is not None, "begin_episode was not called"
        log: list[dict[str, float]] = []
        out: Tensor | None = None
        with torch.enable_grad():
            for _ in range(self.config.steps_per_batch):
                out = self._one_step(model, batch, log)
        if out is None:
            with torch.no_grad():
                out = forward_batch(model, batch)
        self.batches += 1
        self.last_metrics = self._metrics(out, log)
        if self.config.episodic:
            self._restore(model)
        return out

    def _metrics(self, out: Tensor, log: list[dict[str, float]]) -> dict[str, float]:
        assert self.layer is not None and self.source_weight is not None
        with torch.no_grad():
            drift = (layer_weight(self.layer) - self.source_weight).norm() / self.source_weight.norm().clamp_min(1e-12)
            return {"entropy": float(entropy(out).mean()), "max_prob": float(out.softmax(-1).amax(-1).mean()),
                    "weight_drift": float(drift), "hebbian_step": sum(e["hebbian_step"] for e in log)}

    def _restore(self, model: nn.Module) -> None:
        assert self.source is not None
        model.load_state_dict(self.source)
        self.optimizer = self._optimizer()

    # ---- state -------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Batch counter, optimizer state, patch-subsampling RNG and the source snapshots (the adapted weights,
        the modulator and the batch-norm statistics live in the model's own state_dict)."""
        return {
            "batches": self.batches,
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "generator": self.generator.get_state(),
            "source_weight": self.source_weight.clone() if self.source_weight is not None else None,
            "source": {k: v.clone() for k, v in self.source.items()} if self.source is not None else None,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; before ``begin_episode`` it is applied at the episode start."""
        if self.layer is None:
            self._pending = dict(state)
            return
        self.batches = int(state["batches"])
        if state.get("optimizer") is not None and self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        if state.get("source_weight") is not None:
            self.source_weight = state["source_weight"].clone()
        if state.get("source") is not None:
            self.source = {k: v.clone() for k, v in state["source"].items()}


class SourceOnly(NHLTestTimeRule):
    """``source_only``: the unadapted source model (no update, batch norms on the source statistics)."""

    Config = SourceOnlyConfig
    conformance_configs = ({},)


class BNAdapt(NHLTestTimeRule):
    """``bn_adapt``: test-batch batch-norm statistics, no parameter update."""

    Config = BNAdaptConfig
    conformance_configs = ({},)


class HebbianOnly(NHLTestTimeRule):
    """``hebbian_only``: NHL without the neuro-modulator (soft Hebbian early layer, test-batch statistics)."""

    Config = HebbianOnlyConfig
    conformance_configs = ({}, {"hebbian": {"keep_scale": False, "norm_mode": "none"}})


class ModulatorOnly(NHLTestTimeRule):
    """``modulator_only``: NHL without the Hebbian step (entropy on the neuro-modulator only)."""

    Config = ModulatorOnlyConfig
    conformance_configs = ({},)
