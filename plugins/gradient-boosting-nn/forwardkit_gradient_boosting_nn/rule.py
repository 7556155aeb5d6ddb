"""``gradient_boosted_head``: GB-NN's stage-wise training as a forwardkit learning rule (steps S1-S6).

Every trainer step fits (part of) one boosting stage on the batch it gets, writing the result into the
``boosted_mlp`` the trainer holds, so the model evaluated after any step is the merged network of the stages
fitted so far:

1. ``F_{t-1}`` is the model's own output on the batch (no cache: the stages fitted so far are in its weights);
   at the very first step the model's output layer is switched off and ``F_0`` (step S1) is computed
   from the batch's targets;
2. ``r = -dL/dF(F_{t-1})`` (S2) on every row;
3. a fresh ``J``-unit regressor -- hidden weights starting from the model's units of stage ``t`` (a fresh
   Glorot draw at build time), output weights drawn from the rule's generator -- is fitted by MSE to ``r`` on
   ``floor(subsample * N)`` rows drawn without replacement (S3, S4), for ``stage_max_iter`` iterations;
4. after ``steps_per_stage`` such steps, ``rho_t = eta * newton_step(r, h_t(x))`` on every row of the batch
   (S5) and the stage is written into units ``[t*J, (t+1)*J)`` of the model (S6).

With a batch that holds the whole training split (``trainer.batch_size >= N``, the paper's setting) each
stage sees all N samples and one trainer step is one stage: ``trainer.max_steps = T``. With smaller batches
each stage is fitted to one batch (a stochastic variant). The rule stops the run when the ``T`` stages are
fitted. It never trains a backbone, and it leaves frozen hidden parameters as they are (the stages then fit
only what is trainable). ``boost(x, y, ...)`` is the same loop without the trainer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.errors import ConfigError, ConfigIssue, ForwardkitError
from forwardkit.interfaces import LearningRule, RunContext
from forwardkit_gradient_boosting_nn import losses as L
from forwardkit_gradient_boosting_nn.config import GradientBoostedHeadConfig
from forwardkit_gradient_boosting_nn.model import BoostedMLP, StagedEnsemble
from forwardkit_gradient_boosting_nn.stage import StageNet, adam_for, fit_stage

__all__ = ["GradientBoostedHead", "boost"]

def _issue(field: str, message: str) -> ConfigError:
    return ConfigError([ConfigIssue(f"learning_rule.{field}", message)])


class GradientBoostedHead(LearningRule):
    """Gradient boosting of hidden-unit blocks on pseudo-residuals into a ``boosted_mlp`` (steps S1-S6)."""

    Config = GradientBoostedHeadConfig
    config: GradientBoostedHeadConfig

    #: the kit's small models and runs: a boosted_mlp on blobs, full-batch steps of a few stages
    conformance_models = ({"name": "boosted_mlp", "in_features": 6, "num_classes": 3, "stages": 4,
                           "units_per_stage": 2},)
    #: L-BFGS stages of 2 steps, Adam stages of 3: the kit's interruption at step 5 falls inside a stage
    conformance_configs = ({"stage_max_iter": 8, "steps_per_stage": 2},
                           {"stage_optimizer": "adam", "stage_max_iter": 4, "steps_per_stage": 3, "subsample": 0.75})
    conformance_experiment = {
        "model": {"name": "boosted_mlp", "stages": 8, "units_per_stage": 1},
        "trainer": {"batch_size": 32},
    }

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.model: BoostedMLP | None = None
        self.generator = torch.Generator()
        self.loss: L.LossName | None = None
        self.started = False  # F_0 written into the model (by this rule)
        self.stage_step = 0  # steps done within the current stage
        self.current: StageNet | None = None  # the stage being fitted (steps_per_stage > 1)
        self.adam: torch.optim.Optimizer | None = None
        self.record: dict[str, Any] = {"f0": None, "stages": []}  # what this rule fitted (StagedEnsemble)

    # ---- set-up ------------------------------------------------------------------------------------------
    @property
    def stages(self) -> int:
        assert self.model is not None, "setup() first"
        return self.config.T or self.model.num_stages

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        if not isinstance(model, BoostedMLP):
            raise ForwardkitError(f"gradient_boosted_head boosts the hidden units of a 'boosted_mlp' model, got "
                                  f"{type(model).__name__}")
        if ctx.world_size > 1:
            raise ForwardkitError("gradient_boosted_head fits its stages one after the other and does not run "
                                  "data-parallel (DDP)")
        cfg, mcfg = self.config, model.config
        if cfg.T is not None and cfg.T > mcfg.stages:
            raise _issue("T", f"T={cfg.T} stages do not fit the model's {mcfg.stages} (model.stages)")
        if cfg.J is not None and cfg.J != mcfg.units_per_stage:
            raise _issue("J", f"J={cfg.J} differs from the model's units_per_stage={mcfg.units_per_stage}")
        if cfg.activation is not None and cfg.activation != mcfg.activation:
            raise _issue("activation", f"{cfg.activation!r} differs from the model's {mcfg.activation!r}")
        frozen = [n for n in ("out.weight", "out.bias") if not model.get_parameter(n).requires_grad]
        if frozen:
            raise ForwardkitError(f"gradient_boosted_head writes every stage into the output layer, but {frozen} "
                                  "are frozen")
        self.model = model
        if not self.started and int(model.fitted) == 0 and self.stage_step == 0:
            model.start_boosting(torch.zeros_like(model.out.bias))  # nothing fitted yet: every unit off
        self.generator.manual_seed(cfg.seed if cfg.seed is not None else torch.initial_seed())

    def _resolve_loss(self, y: Tensor) -> L.LossName:
        if self.loss is None:
            assert self.model is not None
            try:
                self.loss = L.resolve_loss(self.config.loss, classification=not y.is_floating_point(),
                                           num_classes=self.model.config.num_classes)
            except ValueError as exc:
                raise _issue("loss", str(exc)) from None
        return self.loss

    # ---- one step ----------------------------------------------------------------------------------------
    def _features(self, x: Tensor) -> Tensor:
        model = self.model
        assert model is not None
        with torch.no_grad():
            if model.backbone is None:
                return model.features(x)
            was = model.backbone.training
            model.backbone.eval()  # the backbone is a fixed feature extractor here
            try:
                return model.features(x)
            finally:
                model.backbone.train(was)

    def _new_stage(self, t: int, ks: int) -> StageNet:
        model = self.model
        assert model is not None
        block = model.stage_slice(t)
        net = StageNet(model.hidden.in_features, model.units_per_stage, ks, model.config.activation)
        net.init_(self.generator, hidden=False)
        with torch.no_grad():
            net.hidden.weight.copy_(model.hidden.weight[block])
            net.hidden.bias.copy_(model.hidden.bias[block])
        net.hidden.weight.requires_grad_(model.hidden.weight.requires_grad)
        net.hidden.bias.requires_grad_(model.hidden.bias.requires_grad)
        return net.to(model.hidden.weight.device)

    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        model, cfg = self.model, self.config
        assert model is not None, "setup() first"
        y = batch["y"]
        loss = self._resolve_loss(y)
        k = model.config.num_classes
        embed = L.embedding(loss, k).to(model.out.weight)
        z = self._features(batch["x"])
        Y = L.encode_targets(loss, y, k).to(z)
        t = int(model.fitted)
        if t >= self.stages:  # nothing left to fit (a longer budget than T stages)
            ctx.after_backward()
            ctx.request_stop(f"gradient_boosted_head: all {self.stages} stages are fitted")
            return self._metrics(batch, ctx, loss, Y, z, {})
        first = not self.started and t == 0
        with torch.no_grad():
            if first:
                f0 = L.initial_constant(loss, Y, f0=cfg.f0).to(z)
                F_prev = f0.expand(z.shape[0], -1)
            else:
                F_prev = L.scores_from_logits(loss, model.head(z))
            r = L.pseudo_residuals(loss, Y, F_prev)
        n = z.shape[0]
        keep = max(1, math.floor(cfg.subsample * n))
        rows = torch.randperm(n, generator=self.generator)[:keep].to(z.device) if keep < n else None
        if self.current is None:
            self.current = self._new_stage(t, Y.shape[1])
            self.adam = adam_for(self.current, cfg.stage_lr) if cfg.stage_optimizer == "adam" else None
        net = self.current
        fit = fit_stage(net, z if rows is None else z[rows], r if rows is None else r[rows],
                        optimizer=cfg.stage_optimizer, max_iter=cfg.stage_max_iter, l2=cfg.stage_l2,
                        lr=cfg.stage_lr, adam=self.adam)
        self.stage_step += 1
        done = self.stage_step >= cfg.steps_per_stage
        info: dict[str, float] = {"stage_fit": fit}
        rho = 0.0
        if done:
            with torch.no_grad():
                rho = cfg.eta * L.newton_step(loss, Y, r, net(z), mode=cfg.newton)
            info["rho"] = rho
        ctx.after_backward()  # the stage is fitted, the model not yet changed
        if ctx.should_stop:
            return {"loss": float(L.loss_value(loss, Y, F_prev)), **info}
        if first:
            model.start_boosting(embed @ f0)
            self.started = True
            self.record = {"f0": f0.detach().cpu().clone(), "stages": []}
        if done:
            model.set_stage(t, net, rho, embed)
            self.record["stages"].append({"index": t, "rho": rho,
                                          **{key: p.detach().cpu().clone() for key, p in net.state_dict().items()}})
            self.current, self.adam, self.stage_step = None, None, 0
            if t + 1 >= self.stages:
                ctx.request_stop(f"gradient_boosted_head: all {self.stages} stages are fitted")
        return self._metrics(batch, ctx, loss, Y, z, info)

    def _metrics(self, batch: Mapping[str, Tensor], ctx: RunContext, loss: L.LossName, Y: Tensor, z: Tensor,
                 info: dict[str, float]) -> dict[str, float]:
        model = self.model
        assert model is not None
        with torch.no_grad():
            out = model.head(z)
            boosting = float(L.loss_value(loss, Y, L.scores_from_logits(loss, out)))
            task = float(ctx.loss_fn(out, batch)) if ctx.loss_fn is not None else boosting
        return {"loss": task, "boost_loss": boosting, "stages": float(int(model.fitted)), **info}

    # ---- the fitted stages as the paper keeps them ---------------------------------------------------------
    def ensemble(self) -> StagedEnsemble:
        """The stages this rule fitted as the paper-literal ``F_0 + sum_t rho_t h_t`` (before merging); needs
        every stage of the model fitted by this rule from the start."""
        model = self.model
        stages = self.record["stages"]
        if model is None or self.record["f0"] is None or [s["index"] for s in stages] != list(range(len(stages))):
            raise ForwardkitError("the staged ensemble needs every stage fitted by this rule, from F_0 on")
        nets, rhos = [], []
        for s in stages:
            net = StageNet.from_tensors(s["hidden.weight"], s["hidden.bias"], s["out.weight"], s["out.bias"],
                                        activation=model.config.activation)
            nets.append(net)
            rhos.append(float(s["rho"]))
        assert self.loss is not None
        embed = L.embedding(self.loss, model.config.num_classes)
        if not nets:
            raise ForwardkitError("no stage has been fitted yet")
        return StagedEnsemble(self.record["f0"], nets, rhos, embed)

    # ---- state ---------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        current = None
        if self.current is not None:
            current = {"tensors": {k: v.detach().cpu().clone() for k, v in self.current.state_dict().items()},
                       "trainable": [bool(p.requires_grad) for p in self.current.parameters()]}
        return {
            "generator": self.generator.get_state(),
            "loss": self.loss,
            "started": self.started,
            "stage_step": self.stage_step,
            "current": current,
            "adam": self.adam.state_dict() if self.adam is not None else None,
            "record": {"f0": self.record["f0"], "stages": list(self.record["stages"])},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.loss = state.get("loss")
        self.started = bool(state.get("started", False))
        self.stage_step = int(state.get("stage_step", 0))
        self.current, self.adam = None, None
        current = state.get("current")
        if current is not None:
            tensors = current["tensors"]
            net = StageNet.from_tensors(tensors["hidden.weight"], tensors["hidden.bias"], tensors["out.weight"],
                                        tensors["out.bias"],
                                        activation=self.model.config.activation if self.model else "sigmoid")
            for p, trainable in zip(net.parameters(), current["trainable"], strict=True):
                p.requires_grad_(bool(trainable))
            if self.model is not None:
                net = net.to(self.model.hidden.weight.device)
            self.current = net
            if state.get("adam") is not None:
                self.adam = adam_for(net, self.config.stage_lr)
                self.adam.load_state_dict(state["adam"])
        record = state.get("record") or {}
        self.record = {"f0": record.get("f0"), "stages": [dict(s) for s in record.get("stages", [])]}


def boost(x: Tensor, y: Tensor, *, stages: int = 200, units_per_stage: int = 1, activation: str = "sigmoid",
          num_classes: int | None = None, seed: int = 0, **config: Any) -> tuple[BoostedMLP, StagedEnsemble]:
    """GB-NN on tensors, without the trainer: ``x`` ``(N, D)`` features, ``y`` ``(N,)`` int labels or ``(N,)`` /
    ``(N, K)`` float targets. Returns the merged ``BoostedMLP`` and the paper-literal ``StagedEnsemble``.

    ``config``: any other :class:`GradientBoostedHeadConfig` field (``eta``, ``subsample``, ...); each of the
    ``stages`` stages is one full-batch step of :class:`GradientBoostedHead` on all ``N`` rows. ``seed`` seeds
    the model's init (under a forked RNG) and, unless ``config['seed']`` is given, the rule's generator.
    """
    if num_classes is None:
        num_classes = int(y.max()) + 1 if not y.is_floating_point() else (1 if y.dim() == 1 else y.shape[1])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BoostedMLP(in_features=x.reshape(x.shape[0], -1).shape[1], num_classes=num_classes, stages=stages,
                           units_per_stage=units_per_stage, activation=activation)
    rule = GradientBoostedHead({"seed": seed, **config})
    ctx = RunContext(model=model)
    rule.setup(model, ctx)
    batch = {"x": x, "y": y}
    for _ in range(rule.stages * rule.config.steps_per_stage):
        rule.step(batch, ctx)
        if ctx.should_stop:
            break
    return model, rule.ensemble()
