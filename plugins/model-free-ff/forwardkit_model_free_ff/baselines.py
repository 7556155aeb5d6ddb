"""The backprop baselines the paper compares with, run on the same ``hybrid_pnn`` (card "Components").

Both train every Linear jointly with one Adam, end to end, and so need gradients *through* the physical
layers, i.e. a model of the physics:

* ``insilico_bp``: backprop through the differentiable simulator itself (``backward_through("exact")``):
  a perfect model, the upper bound; impossible for real hardware (a non-differentiable black box raises).
* ``physics_aware_training`` (PAT, Wright et al. 2022): the forward values are measured on the black box,
  the backward pass goes through a digital twin MLP of each physical layer, fitted on ``n_probe``
  measured pairs at the first step (and every ``refit_every`` epochs): ``z = measure(h) + twin(h) -
  twin(h).detach()``. Block 1 needs no twin (its input is data, nothing upstream trains).

``objective: ff_pairwise`` (default) differentiates the method's own loss, ``sum_k loss_k`` over the same
positive/negative streams, end to end, so that an arm of the reproduction differs from ``model_free_ff``
only in how gradients are obtained; ``cross_entropy`` is the cross-entropy of ``alpha x`` the candidate
scores (C passes per sample). ``inner_steps`` Adam steps per batch, as ``model_free_ff``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import LearningRule, RunContext
from forwardkit_model_free_ff.config import InSilicoBPConfig, PhysicsAwareTrainingConfig
from forwardkit_model_free_ff.goodness import ff_pairwise_loss
from forwardkit_model_free_ff.physical import Surrogate, encode
from forwardkit_model_free_ff.rule import SMALL_EXPERIMENT, SMALL_PNN, check_pnn, contrastive_inputs
from forwardkit_model_free_ff.twin import DigitalTwin


def pairwise_objective(model: Any, h_pos: Tensor, h_neg: Tensor, alpha: float, first: Tensor | None = None
                       ) -> tuple[Tensor, list[float]]:
    """``sum_k loss_k`` of both streams ``(B, input_width)`` through every block, differentiable wherever the
    model's surrogates let gradients cross the physics; also the per-block losses. ``first``: block 1's
    measured output of ``cat([h_pos, h_neg])`` when already known."""
    b = h_pos.shape[0]
    gs = model.goodness_per_block(torch.cat([h_pos, h_neg]), first=first)
    losses = [ff_pairwise_loss(g[:b], g[b:], alpha) for g in gs]
    return torch.stack(losses).sum(), [float(v.detach()) for v in losses]


class InSilicoBP(LearningRule):
    """End-to-end backprop of a ``hybrid_pnn`` through its differentiable simulated physics."""

    Config = InSilicoBPConfig
    config: InSilicoBPConfig
    # (objective: cross_entropy is trained in the plugin's own tests)
    conformance_configs: ClassVar[list[dict[str, Any]]] = [{"inner_steps": 2}]
    conformance_models: ClassVar[list[dict[str, Any]]] = [SMALL_PNN]
    conformance_experiment: ClassVar[dict[str, Any]] = SMALL_EXPERIMENT
    #: the rule's access to the physics' gradients ("exact": the simulator itself)
    rule_name: ClassVar[str] = "insilico_bp"

    def __init__(self, config: InSilicoBPConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.optimizer: torch.optim.Optimizer | None = None

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        check_pnn(model, self.rule_name)
        if ctx.world_size > 1:
            raise ForwardkitError(f"{self.rule_name} does not support DDP runs")
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=self.config.lr, weight_decay=self.config.weight_decay)

    def surrogates(self, model: Any) -> str | Sequence[Surrogate]:
        """How gradients cross each physical layer: the simulator itself."""
        return "exact"

    def prepare(self, model: Any, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        """Work before the updates of a step (PAT fits its twins here); returns extra metrics."""
        return {}

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        assert self.optimizer is not None, "setup() must run first"
        model: Any = ctx.model
        cfg = self.config
        metrics = self.prepare(model, batch, ctx)
        if cfg.objective == "ff_pairwise":
            h_pos, h_neg = contrastive_inputs(model, batch, self.generator)
            first = model.physics[0].measure(torch.cat([h_pos, h_neg]))  # data in, nothing upstream to train
        losses: list[float] = []
        for i in range(cfg.inner_steps):
            with model.backward_through(self.surrogates(model)):
                if cfg.objective == "ff_pairwise":
                    loss, per_block = pairwise_objective(model, h_pos, h_neg, cfg.alpha, first=first)
                else:
                    logits = cfg.alpha * model(batch["x"])
                    loss = ctx.loss_fn(logits, batch) if ctx.loss_fn is not None else F.cross_entropy(logits,
                                                                                                     batch["y"])
                    per_block = []
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if i == 0:
                ctx.last_metrics = {"loss": float(loss.detach())}
                ctx.after_backward()
                if ctx.should_stop:
                    return {"loss": float(loss.detach())}
            self.optimizer.step()
            losses.append(float(loss.detach()))
        metrics.update({f"loss_b{k + 1}": v for k, v in enumerate(per_block)})
        metrics["loss"] = sum(losses) / len(losses)
        metrics["physical_queries"] = float(model.queries())
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict() if self.optimizer else None,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("optimizer") is not None:
            assert self.optimizer is not None, "setup() must run before load_state_dict()"
            self.optimizer.load_state_dict(state["optimizer"])
        if "generator" in state:
            self.generator.set_state(state["generator"].clone())


class PhysicsAwareTraining(InSilicoBP):
    """PAT: measured forward values, backward through digital twins fitted on probes (see the module doc)."""

    Config = PhysicsAwareTrainingConfig
    config: PhysicsAwareTrainingConfig
    conformance_configs: ClassVar[list[dict[str, Any]]] = [
        {"inner_steps": 2, "n_probe": 64, "twin_hidden": 16, "twin_steps": 5, "refit_every": 1}]
    rule_name: ClassVar[str] = "physics_aware_training"

    def __init__(self, config: PhysicsAwareTrainingConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.twins: list[DigitalTwin | None] = []
        self.fitted_epoch = -1
        self.twin_error: list[float] = []

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        super().setup(model, ctx)
        pnn: Any = model
        cfg = self.config
        self.twins = [None]
        with torch.random.fork_rng(devices=[]):  # twin initialisation leaves the run's own RNG alone
            torch.manual_seed(cfg.seed)
            for k in range(1, pnn.num_blocks):
                lin_in = pnn.linears[k].in_features
                d_in = pnn.linears[k - 1].out_features
                measured = lin_in - (d_in if pnn.physics[k].config.skip_concat else 0)
                self.twins.append(DigitalTwin(d_in, measured, cfg.twin_hidden, cfg.twin_layers).to(ctx.device))

    def surrogates(self, model: Any) -> Sequence[Surrogate]:
        return list(self.twins)

    def prepare(self, model: Any, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        cfg = self.config
        due = self.fitted_epoch < 0 or (cfg.refit_every and ctx.epoch - self.fitted_epoch >= cfg.refit_every)
        if not due or len(self.twins) < 2:
            return {}
        self.fitted_epoch = ctx.epoch
        self.twin_error = self.fit_twins(model, batch)
        return {f"twin_error_b{k + 2}": e for k, e in enumerate(self.twin_error)}

    @torch.no_grad()
    def _block_inputs(self, model: Any, batch: Mapping[str, Tensor]) -> list[Tensor]:
        """The inputs ``(2B, D_k)`` of every block for this batch's positive and negative streams, now."""
        gen = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator)))
        h_pos, h_neg = contrastive_inputs(model, batch, gen)
        h = torch.cat([h_pos, h_neg])
        out = [h]
        for k in range(model.num_blocks - 1):
            pre, act = model.digital(k, model.physics[k].measure(h))
            h = model.next_input(pre, act)
            out.append(h)
        return out

    def fit_twins(self, model: Any, batch: Mapping[str, Tensor]) -> list[float]:
        """Probe every twinned physical layer ``n_probe`` times around its current inputs and fit its twin;
        returns the twins' relative errors."""
        cfg = self.config
        inputs = self._block_inputs(model, batch)
        errors = []
        for k in range(1, model.num_blocks):
            h = inputs[k]
            idx = torch.randint(0, h.shape[0], (cfg.n_probe,), generator=self.generator).to(h.device)
            noise = torch.randn(cfg.n_probe, h.shape[1], generator=self.generator).to(h)
            probe = h[idx] + cfg.probe_jitter * h.std(0, keepdim=True) * noise
            measured = model.physics[k].measure(probe)  # n_probe physical queries
            twin = self.twins[k]
            assert twin is not None
            with torch.enable_grad():
                errors.append(twin.fit(encode(probe, model.physics[k].config.normalize_input), measured,
                                       steps=cfg.twin_steps, lr=cfg.twin_lr))
        return errors

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "fitted_epoch": self.fitted_epoch, "twin_error": list(self.twin_error),
                "twins": [t.state_dict() if t is not None else None for t in self.twins]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.fitted_epoch = int(state.get("fitted_epoch", -1))
        self.twin_error = [float(e) for e in state.get("twin_error", [])]
        for twin, saved in zip(self.twins, state.get("twins", []), strict=False):
            if twin is not None and saved is not None:
                twin.load_state_dict(saved)
