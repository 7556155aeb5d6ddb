"""The EfficientTrain curriculum as a callback over any run (sec. 4 and Table 4 of arXiv:2211.09703; the official
``ET_training.py`` for v1, ``_ET_pp_main_*.py`` / ``utils_buffer.auto_load_model`` for EfficientTrain++).

Every training step, from the fraction of the step budget used (at the start of the epoch, as the official code
restarts ``main.py`` per stage with ``--end_epoch``; or at the step) it picks the stage k of the table and

1. augments the batch's images at the stage's magnitude m_k (:mod:`.augment`; the official RandAugment runs in the
   CPU loader, before normalisation and the crop),
2. low-frequency-crops them to the stage's bandwidth B_k (:mod:`.crop`; skipped at B = H),

so the model trains on ``B_k x B_k`` images: the early, low-resolution stages are cheaper. The step, its samples and
its wall time go into a :class:`~.ledger.ComputeLedger` (state), which the ``compute_ledger`` analyzer reads.
Evaluations during training see the crop at the current B (``eval_at_current_B``, the official behaviour); the final
test after training is at full resolution.

EfficientTrain++ (``equal_compute_stages``): frac is a share of the compute, so the stages at small B run more
steps (:func:`.schedule.step_shares`), and with ``tie_lr_to_compute`` the learning rule's update counter (the builtin
``backprop``'s ``updates``, which its warm-up and cosine read) is set before every step to ``consumed compute /
planned compute x total steps``: the learning rate follows compute, as the official resume rescales its epoch
counter by ``(B_prev / B_new)^2``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from forwardkit.errors import ConfigError, ConfigIssue
from forwardkit.interfaces import Callback
from forwardkit.interfaces.context import RunContext
from forwardkit_efficienttrain.augment import Augmenter
from forwardkit_efficienttrain.config import Backend, CurriculumConfig
from forwardkit_efficienttrain.crop import CroppedInput, low_freq_crop
from forwardkit_efficienttrain.ledger import ComputeLedger, attach_ledger
from forwardkit_efficienttrain.schedule import (
    bandwidths,
    pixel_ratio,
    planned_stages,
    progress_of,
    stage_at,
    step_shares,
)


class BandwidthCrop(nn.Module):
    """:func:`~.crop.low_freq_crop` of channels-last images to ``(B_h, B_w)`` (the evaluation-time crop)."""

    def __init__(self, bandwidth: tuple[int, int], *, backend: Backend = "fft", rescale_energy: bool = True) -> None:
        super().__init__()
        self.bandwidth, self.backend, self.rescale_energy = bandwidth, backend, rescale_energy

    def forward(self, x: Tensor) -> Tensor:
        return low_freq_crop(x, self.bandwidth, rescale_energy=self.rescale_energy, backend=self.backend)


class EfficientTrainCurriculum(Callback):
    """The ``efficienttrain_curriculum`` callback (see the module docstring). Works with any learning rule; the
    EfficientTrain++ learning-rate tie and ``scale_batch`` need a rule with the builtin backprop's ``updates``
    counter and ``config.accumulate``."""

    Config = CurriculumConfig
    config: CurriculumConfig
    #: 8 x 8 images (B = 6 until the last stage), a small resolution-agnostic CNN, 8 steps per epoch over 3 epochs;
    #: the kit interrupts at step 5, in the middle of the first stage
    conformance_experiment = {
        "data": {"name": "blobs", "image_size": 8, "n_samples": 200, "clusters_per_class": 2},
        "model": {"name": "efficienttrain_cnn", "widths": [4, 8], "strides": [1, 2]},
        "trainer": {"epochs": 3, "batch_size": 16},
    }
    conformance_configs = ({}, {"equal_compute_stages": True, "granularity": "step", "backend": "dft_matmul",
                                "scale_batch": True, "augment": None, "eval_at_current_B": False})

    def __init__(self, config: CurriculumConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.augment = Augmenter(cfg.augment, cfg.seed) if cfg.augment is not None else None
        self.ledger = ComputeLedger()
        self.stage = 0
        self.bandwidth: tuple[int, int] | None = None
        self.base_accumulate: int | None = None
        #: one entry per stage change: {"step", "stage", "bandwidth", "aug_magnitude"}
        self.log: list[dict[str, Any]] = []
        self._rule: Any = None
        self._fitting = False
        self._pending: tuple[tuple[int, int], int, float] | None = None
        self._planned: tuple[tuple[Any, ...], float] | None = None

    # ---- the schedule ----------------------------------------------------------------------------------
    def schedule_at(self, progress: float, size: tuple[int, int]) -> tuple[int, tuple[int, int], int]:
        """``(stage index, (B_h, B_w), m)`` at a fraction ``progress`` of the step budget for ``(H, W)`` images."""
        cfg = self.config
        shares = step_shares(cfg.stages, size, cfg.round_to, equal_compute=cfg.equal_compute_stages)
        k = stage_at(progress, shares)
        return k, bandwidths(cfg.stages, size, cfg.round_to)[k], cfg.stages[k].aug_magnitude

    def planned_compute(self, ctx: RunContext, size: tuple[int, int]) -> float:
        """``sum_t (B_t/H)^2`` over the run's planned steps: the compute budget in full-resolution steps."""
        cfg = self.config
        key = (ctx.total_steps, ctx.steps_per_epoch, size)
        if self._planned is None or self._planned[0] != key:
            shares = step_shares(cfg.stages, size, cfg.round_to, equal_compute=cfg.equal_compute_stages)
            ratios = [pixel_ratio(b, size) for b in bandwidths(cfg.stages, size, cfg.round_to)]
            plan = planned_stages(ctx.total_steps, ctx.steps_per_epoch, shares, cfg.granularity)
            self._planned = (key, sum(ratios[k] for k in plan))
        return self._planned[1]

    # ---- events ----------------------------------------------------------------------------------------
    def on_fit_start(self, ctx: RunContext) -> None:
        cfg = self.config
        attach_ledger(ctx.model, self.ledger)
        self._fitting = True
        rule = ctx.extra.get("learning_rule")
        self._rule = rule
        if rule is None:
            return
        if cfg.equal_compute_stages and cfg.tie_lr_to_compute and not isinstance(getattr(rule, "updates", None), int):
            raise ConfigError([ConfigIssue("callbacks.efficienttrain_curriculum.tie_lr_to_compute",
                                           f"ties the learning-rate schedule to the consumed compute through the "
                                           f"rule's integer 'updates' counter (the builtin backprop has one); "
                                           f"{type(rule).__name__} has none: set tie_lr_to_compute: false")])
        if cfg.scale_batch:
            accumulate = getattr(getattr(rule, "config", None), "accumulate", None)
            if not isinstance(accumulate, int):
                raise ConfigError([ConfigIssue("callbacks.efficienttrain_curriculum.scale_batch",
                                               f"scales the rule's micro-batches (config.accumulate, as the builtin "
                                               f"backprop has); {type(rule).__name__} has none: set scale_batch: "
                                               "false")])
            if self.base_accumulate is None:
                self.base_accumulate = accumulate

    def on_epoch_start(self, ctx: RunContext) -> None:
        if self.ledger.size is not None:  # report the stage the epoch starts in (the batches decide it exactly)
            progress = progress_of(ctx.step, ctx.epoch, ctx.steps_per_epoch, ctx.total_steps, self.config.granularity)
            k, b, m = self.schedule_at(progress, self.ledger.size)
            ctx.extra.setdefault("step_metrics", {}).update(
                {"efficienttrain/stage": float(k + 1), "efficienttrain/bandwidth": float(b[0]),
                 "efficienttrain/aug_magnitude": float(m)})

    def on_batch_start(self, batch: dict[str, Tensor], ctx: RunContext) -> dict[str, Tensor]:
        cfg = self.config
        key = cfg.image_key
        if key not in batch:
            raise KeyError(f"efficienttrain_curriculum: the batch has no key {key!r} (image_key); keys: "
                           f"{sorted(batch)}")
        x = batch[key]
        if x.dim() != 4:
            raise ValueError(f"efficienttrain_curriculum needs channels-last images (N, H, W, C) under {key!r}, got "
                             f"shape {tuple(x.shape)}")
        start = time.perf_counter()
        size = (int(x.shape[1]), int(x.shape[2]))
        if self.ledger.size is None:
            self.ledger.size = size
        elif self.ledger.size != size:
            raise ValueError(f"efficienttrain_curriculum: the images changed size from {self.ledger.size} to {size} "
                             "during the run")
        progress = progress_of(ctx.step, ctx.epoch, ctx.steps_per_epoch, ctx.total_steps, cfg.granularity)
        k, b, m = self.schedule_at(progress, size)
        if self.bandwidth is None or k != self.stage:
            self.log.append({"step": int(ctx.step), "stage": k, "bandwidth": [b[0], b[1]], "aug_magnitude": m})
        self.stage, self.bandwidth = k, b
        self._drive_rule(ctx, size, b)
        if self.augment is not None:
            x = self.augment(x, m)
        if b != size:
            x = low_freq_crop(x, b, rescale_energy=cfg.rescale_energy, backend=cfg.backend)
        ctx.extra.setdefault("step_metrics", {}).update(
            {"efficienttrain/stage": float(k + 1), "efficienttrain/bandwidth": float(b[0]),
             "efficienttrain/aug_magnitude": float(m), "efficienttrain/relative_flops": self.ledger.relative_flops()})
        self._pending = (b, int(x.shape[0]), start)
        return {**batch, key: x}

    def _drive_rule(self, ctx: RunContext, size: tuple[int, int], b: tuple[int, int]) -> None:
        """EfficientTrain++'s learning-rate clock and ``scale_batch``, on the rule of the run (if it has one)."""
        cfg, rule = self.config, self._rule
        if rule is None:
            return
        if cfg.equal_compute_stages and cfg.tie_lr_to_compute:
            budget = self.planned_compute(ctx, size)
            rule.updates = round(self.ledger.step_compute / budget * ctx.total_steps) if budget else ctx.step
        if cfg.scale_batch and self.base_accumulate is not None:
            rule.config.accumulate = max(1, int(self.base_accumulate * pixel_ratio(b, size) + 0.5))

    def on_step_end(self, metrics: Mapping[str, float], ctx: RunContext) -> None:
        if self._pending is not None:
            b, n, start = self._pending
            self.ledger.record(b, n, seconds=time.perf_counter() - start)
            self._pending = None

    def on_evaluate_start(self, split: str, ctx: RunContext) -> nn.Module | None:
        cfg = self.config
        if not (cfg.eval_at_current_B and self._fitting and self.bandwidth is not None and self.ledger.size):
            return None
        if self.bandwidth == self.ledger.size:
            return None
        crop = BandwidthCrop(self.bandwidth, backend=cfg.backend, rescale_energy=cfg.rescale_energy)
        return CroppedInput(ctx.model, crop, input_key=cfg.image_key)

    def on_fit_end(self, ctx: RunContext) -> None:
        self._fitting = False
        ctx.extra["efficienttrain"] = {"relative_flops": self.ledger.relative_flops(),
                                       "full_res_equivalent_samples": self.ledger.full_res_equivalent_samples(),
                                       "samples": self.ledger.samples, "stages": list(self.log)}

    # ---- state -----------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "bandwidth": None if self.bandwidth is None else list(self.bandwidth),
                "ledger": self.ledger.state_dict(), "augment": self.augment.state_dict() if self.augment else {},
                "base_accumulate": self.base_accumulate, "log": [dict(e) for e in self.log]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.stage = int(state["stage"])
        self.bandwidth = None if state["bandwidth"] is None else (int(state["bandwidth"][0]),
                                                                  int(state["bandwidth"][1]))
        self.ledger.load_state_dict(state["ledger"])
        if self.augment is not None:
            self.augment.load_state_dict(state["augment"])
        self.base_accumulate = None if state["base_accumulate"] is None else int(state["base_accumulate"])
        self.log = [dict(e) for e in state["log"]]
