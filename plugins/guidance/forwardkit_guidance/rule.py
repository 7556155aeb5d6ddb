"""GuidanceRule: another rule's update with a representational-alignment loss to a frozen guide added to its loss.

Per training step with batch ``x`` and labels ``y`` (card "Mechanism"; official ``rep_sim_loss`` /
``image_class.total_loss``)::

    G = taps(guide, x_guide)            # guide frozen, eval mode, no grad; x_guide = x, or noise (ablation)
    T = taps(target, x)                 # the same forward pass as the task loss, with grad
    L_align = sum_{(g, t) in pairs} (1 - sim(flat(T[t]), flat(G[g])))      # sim: linear CKA (or RSA)
    L = L_task(target(x), y) + alpha * L_align

The wrapped rule (default ``backprop``, Adam 1e-3) does the forward, backward and update; this rule swaps its
``ctx.loss_fn`` for one that adds ``alpha * L_align`` computed from the taps of that very forward pass (with
gradient accumulation, per micro-batch). With ``alpha = 0``, or from step ``stop_after_steps`` on, the wrapped
rule runs untouched (no guide forward, no hooks): plain training, bit for bit.

State: this rule's step counter, the wrapped rule's state, the guide's seed and weights (so a resumed run uses
exactly the guide it started with, trained or not), and the noise generator of ``guide_input='noise'``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from forwardkit.interfaces import LearningRule, RunContext
from forwardkit_guidance.config import GuidanceRuleConfig, GuideConfig
from forwardkit_guidance.guide import build_guide
from forwardkit_guidance.mapping import map_pairs
from forwardkit_guidance.similarity import similarity, tokenwise_cka
from forwardkit_guidance.taps import LayerTaps, extract_taps

__all__ = ["GuidanceRule", "alignment_loss", "noise_like"]


def alignment_loss(target: Mapping[str, Tensor], guide: Mapping[str, Tensor], pairs: list[tuple[str, str]], *,
                   metric: Literal["cka", "rsa"] = "cka", token_wise: bool = False) -> tuple[Tensor, list[float]]:
    """``sum_{(g, t) in pairs} (1 - sim(target[t], guide[g]))`` (card "Mechanism") and each pair's similarity.

    ``target`` / ``guide``: ``{tap: (B, ...)}``, flattened per sample (``token_wise``: ``(B, N, C)`` taps,
    summed over positions ``n`` of ``1 - CKA(T[:, n], G[:, n])``). The guide's taps should carry no graph.
    """
    terms: list[Tensor] = []
    sims: list[float] = []
    for g, t in pairs:
        if token_wise:
            per_token = tokenwise_cka(target[t], guide[g])
            terms.append((1.0 - per_token).sum())
            sims.append(float(per_token.detach().mean()))
        else:
            sim = similarity(target[t], guide[g], metric)
            terms.append(1.0 - sim)
            sims.append(float(sim.detach()))
    if not terms:
        raise ValueError("no layer pairs to align")
    return torch.stack(terms).sum(), sims


def noise_like(x: Tensor, generator: torch.Generator) -> Tensor:
    """The official ablation's guide input (``create_rand_inputs``): for float inputs
    ``clamp(N(0, 1) + 0.1 N(0, 1), 0, 1)`` of ``x``'s shape; for integer inputs uniform ids in ``[0, max(x)]``."""
    if x.is_floating_point():
        noisy = torch.randn(x.shape, generator=generator) + 0.1 * torch.randn(x.shape, generator=generator)
        return noisy.clamp(0.0, 1.0).to(device=x.device, dtype=x.dtype)
    high = int(x.max()) + 1
    return torch.randint(0, high, x.shape, generator=generator).to(device=x.device, dtype=x.dtype)


def _batch_size(batch: Mapping[str, Tensor]) -> int:
    return int(batch.get("x", next(iter(batch.values()))).shape[0])


#: the conformance kit's models: the kit's toy CNN (8x8x3 images) and a deep MLP on blobs images
_KIT_GUIDE: dict[str, Any] = {"model": {"name": "guidance_cnn", "in_channels": 3, "num_classes": 4,
                                        "widths": [4, 4, 4], "pool_size": 2}, "seed": 5}
_KIT_DATA: dict[str, Any] = {"name": "blobs", "n_samples": 200, "image_size": 8, "image_channels": 3,
                             "clusters_per_class": 2}


class GuidanceRule(LearningRule):
    """Task loss + ``alpha * sum (1 - sim)`` over mapped layer pairs to a frozen guide (see the module doc).

    Metrics per step: the wrapped rule's (``loss`` is the total), ``task_loss``, ``align_loss`` (the unweighted
    ``L_align``, 0 when not guiding), ``similarity`` (mean over pairs), ``pairs`` (how many) and ``guiding``.
    """

    Config = GuidanceRuleConfig
    config: GuidanceRuleConfig
    conformance_models: ClassVar[tuple[Any, ...]] = ("toy",)
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {"guide": _KIT_GUIDE},
        {"guide": _KIT_GUIDE, "metric": "rsa", "guide_input": "noise", "dedupe": "sum", "stop_after_steps": 1},
        {"guide": {**_KIT_GUIDE, "trained": True, "data": _KIT_DATA, "max_steps": 3}},
    )
    conformance_experiment: ClassVar[dict[str, Any]] = {
        "data": _KIT_DATA,
        "model": {"name": "mlp", "hidden": [16, 16, 16], "dropout": 0.2},
    }

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.inner: LearningRule = self.config.rule.build()
        self.steps = 0
        self.guide: nn.Module | None = None
        self.guide_report: dict[str, float] = {}
        self._saved_guide: dict[str, Tensor] | None = None
        self._noise: torch.Generator | None = None
        self._taps: LayerTaps | None = None
        self._last: dict[str, float] = {}

    # ---- set-up --------------------------------------------------------------------------------
    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        self.inner.setup(model, ctx)
        self._taps = LayerTaps(model, self.config.target_taps)

    def model_changed(self, model: nn.Module, ctx: RunContext) -> None:
        self.inner.model_changed(model, ctx)
        self._taps = LayerTaps(model, self.config.target_taps)

    def guiding(self) -> bool:
        """Whether this step adds the alignment loss (``alpha > 0`` and before ``stop_after_steps``)."""
        stop = self.config.stop_after_steps
        return self.config.alpha > 0 and (stop is None or self.steps < stop)

    def ensure_guide(self, device: torch.device) -> nn.Module:
        """The guide, built on first use (or rebuilt with the weights a checkpoint saved)."""
        if self.guide is None:
            cfg: GuideConfig = self.config.guide
            if self._saved_guide is not None:  # resume: the architecture from the seed, the weights as saved
                cfg = cfg.model_copy(update={"trained": False})
            self.guide, report = build_guide(cfg, device)
            if self._saved_guide is not None:
                self.guide.load_state_dict(self._saved_guide)
                self._saved_guide = None
            else:
                self.guide_report = report
        if self._noise is None and self.config.guide_input == "noise":
            self._noise = torch.Generator().manual_seed(self.config.guide.seed)
        return self.guide.to(device)

    # ---- the step ------------------------------------------------------------------------------
    def guide_taps(self, batch: Mapping[str, Tensor], device: torch.device) -> dict[str, Tensor]:
        """The frozen guide's taps on ``batch`` (or on noise of its input's shape), no grad, eval mode."""
        guide = self.ensure_guide(device)
        if self.config.guide_input == "noise":
            assert self._noise is not None
            batch = {**batch, "x": noise_like(batch["x"], self._noise)}
        guide.eval()
        return extract_taps(guide, batch, self.config.guide_taps, grad=False)

    def _alignment(self, batch: Mapping[str, Tensor], device: torch.device) -> Tensor:
        assert self._taps is not None
        cfg = self.config
        target = self._taps.outputs(_batch_size(batch))
        self._taps.clear()
        guide = self.guide_taps(batch, device)
        pairs = map_pairs(list(guide), list(target), mapping=cfg.mapping, dedupe=cfg.dedupe, pairs=cfg.pairs)
        loss, sims = alignment_loss(target, guide, pairs, metric=cfg.metric, token_wise=cfg.token_wise)
        self._last = {"align_loss": float(loss.detach()), "similarity": sum(sims) / len(sims),
                      "pairs": float(len(pairs))}
        return loss

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        base = ctx.loss_fn
        assert base is not None, "the trainer sets ctx.loss_fn before training"
        if self._taps is None or self._taps.model is not ctx.model:
            self._taps = LayerTaps(ctx.model, self.config.target_taps)
        if not self.guiding():
            metrics = dict(self.inner.step(batch, ctx))
            self.steps += 1
            metrics.update(align_loss=0.0, guiding=0.0)
            metrics.setdefault("task_loss", metrics.get("loss", 0.0))
            return metrics
        alpha = self.config.alpha
        task_losses: list[float] = []

        def loss_fn(output: Any, batch_: Mapping[str, Tensor]) -> Tensor:
            task = base(output, batch_)
            task_losses.append(float(task.detach()))
            return task + alpha * self._alignment(batch_, ctx.device)

        ctx.loss_fn = loss_fn
        taps = self._taps
        taps.clear()
        try:
            with taps:
                metrics = dict(self.inner.step(batch, ctx))
        finally:
            ctx.loss_fn = base
            taps.clear()
        self.steps += 1
        metrics.update(self._last)
        metrics.update(task_loss=sum(task_losses) / max(len(task_losses), 1), guiding=1.0)
        return metrics

    def predict(self, model: nn.Module, batch: Mapping[str, Tensor]) -> Any:
        return self.inner.predict(model, batch)

    # ---- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        weights: dict[str, Tensor] | None
        if self.guide is not None:
            weights = {k: v.detach().cpu().clone() for k, v in self.guide.state_dict().items()}
        else:
            weights = self._saved_guide
        return {"rule": self.inner.state_dict(), "steps": self.steps,
                "guide": {"seed": self.config.guide.seed, "trained": self.config.guide.trained, "weights": weights,
                          "report": dict(self.guide_report)},
                "noise": self._noise.get_state() if self._noise is not None else None}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.inner.load_state_dict(state["rule"])
        self.steps = int(state["steps"])
        guide = state["guide"]
        if int(guide["seed"]) != self.config.guide.seed:
            raise ValueError(f"the saved guide has seed {guide['seed']}, this rule's guide seed "
                             f"{self.config.guide.seed}")
        self.guide_report = {k: float(v) for k, v in guide.get("report", {}).items()}
        self.guide = None
        self._saved_guide = dict(guide["weights"]) if guide.get("weights") is not None else None
        if state.get("noise") is not None:
            self._noise = torch.Generator()
            self._noise.set_state(state["noise"])
        else:
            self._noise = None

