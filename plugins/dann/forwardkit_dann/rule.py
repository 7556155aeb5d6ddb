"""The DANN learning rule (Ganin et al. 2016, JMLR version: sec. 4.2 eq. 10-18, schedules of sec. 5.2.2).

Each step gets a batch of labelled source rows (``x``, ``y``) and unlabelled target rows (``target_x``, drawn by
``trainer.paired``) and minimises, in one backward pass through the GRL, the pseudo-objective of eq. 18

    E~ = (1/n) sum_S L_y(G_y(G_f(x_i)), y_i) + w [ (1/n) sum_S L_d(G_d(R(G_f(x_i))), 0)
                                                  + (1/n') sum_T L_d(G_d(R(G_f(x_j))), 1) ]

(L_y the task's loss, softmax cross-entropy; L_d binary cross-entropy; w = ``domain_loss_weight``, paper 1; the sign
of eq. 18's domain term is carried by the GRL, eq. 16-17): the domain classifier gets the gradient of its loss at
weight w, the feature extractor ``-lambda_p`` times it plus the label gradient, i.e. the updates of eq. 13-15 with
sec. 5.2.2's choice of lambda_p in the feature update only (footnote 6). :func:`reference_gradients` computes those
updates literally, from two separate gradients and no GRL, for the tests to compare. At progress p = t / T:
lambda_p = 2 / (1 + exp(-gamma p)) - 1 (sec. 5.2.2, gamma = 10) and mu_p = mu_0 / (1 + alpha p)^beta (mu_0 = 0.01,
alpha = 10, beta = 0.75), SGD with momentum 0.9.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import LearningRule, RunContext, finish_step
from forwardkit_dann.config import DannRuleConfig
from forwardkit_dann.grl import GradientReversal
from forwardkit_dann.head import DomainAdversarialOutput, small_dann_net

__all__ = ["DANNRule", "annealed_lr", "domain_loss", "grl_lambda", "reference_gradients"]


def grl_lambda(p: float, gamma: float = 10.0, lambda_max: float = 1.0, schedule: str = "sigmoid") -> float:
    """lambda_p = lambda_max (2 / (1 + exp(-gamma p)) - 1) (sec. 5.2.2); ``schedule='constant'``: lambda_max.
    lambda_0 = 0, lambda_0.5 = 0.9866 (gamma = 10), lambda_1 = 0.99991."""
    if schedule == "constant":
        return float(lambda_max)
    return float(lambda_max) * (2.0 / (1.0 + math.exp(-gamma * p)) - 1.0)


def annealed_lr(p: float, lr0: float = 0.01, alpha: float = 10.0, beta: float = 0.75) -> float:
    """mu_p = mu_0 / (1 + alpha p)^beta (sec. 5.2.2): mu_0 = 0.01 at p = 0, 0.01 / 11^0.75 = 0.001656 at p = 1."""
    return float(lr0) / (1.0 + alpha * p) ** beta


def domain_loss(domain_logits: Tensor, n_source: int) -> tuple[Tensor, Tensor]:
    """The domain term of eq. 10 / 18: ``mean_S BCE(d, 0) + mean_T BCE(d, 1)`` for ``domain_logits`` ``(B_S + B_T,)``
    whose first ``n_source`` rows are source; returns ``(loss, labels)`` with the 0/1 domain labels ``(B_S + B_T,)``."""
    labels = torch.cat([domain_logits.new_zeros(n_source), domain_logits.new_ones(domain_logits.shape[0] - n_source)])
    bce = F.binary_cross_entropy_with_logits(domain_logits, labels, reduction="none")
    return bce[:n_source].mean() + bce[n_source:].mean(), labels


def reference_gradients(model: nn.Module, batch: Mapping[str, Tensor], loss_fn: Any, *, lambda_: float,
                        domain_weight: float = 1.0, target_prefix: str = "target_") -> dict[str, Tensor]:
    """The gradients of the updates eq. 13-15 written out without the GRL: a paper-literal reference of one step.

    ``model`` is a :class:`~forwardkit_dann.head.DomainAdversarialNet`, ``batch`` holds ``x`` ``(B_S, ...)``, ``y``
    and ``target_x`` ``(B_T, ...)``. The domain classifier's MLP is applied to the tap ``f`` ``(B_S + B_T, D)``
    directly (no R_lambda), and the label loss L_y (``loss_fn`` on the source rows) and the domain loss L_d
    (:func:`domain_loss`, times ``domain_weight``) are differentiated apart. Per parameter:
    ``dL_y - lambda_ dL_d`` for the feature extractor theta_f (eq. 13), ``dL_y`` for the label predictor theta_y
    (eq. 14), ``dL_d`` for the domain classifier theta_d (eq. 15, with sec. 5.2.2's fixed weight in place of lambda:
    "for updating the domain classification component, we used a fixed lambda = 1"). Returns
    ``{parameter name: gradient}``, zeros where neither loss reaches.
    """
    from forwardkit_dann.head import tap_features

    x_s, x_t = batch[getattr(model, "input_key", "x")], batch[target_prefix + "x"]
    n = x_s.shape[0]
    logits, f = tap_features(model.backbone, str(model.tap), torch.cat([x_s, x_t]))  # type: ignore[arg-type]
    source = {k: v for k, v in batch.items() if not k.startswith(target_prefix)}
    label = loss_fn(logits[:n], source)
    d_loss = domain_weight * domain_loss(model.domain_head.mlp(f).squeeze(-1), n)[0]  # type: ignore[operator,union-attr]
    params = dict(model.named_parameters())
    g_y = torch.autograd.grad(label, list(params.values()), retain_graph=True, allow_unused=True)
    g_d = torch.autograd.grad(d_loss, list(params.values()), allow_unused=True)
    out: dict[str, Tensor] = {}
    for (name, p), gy, gd in zip(params.items(), g_y, g_d, strict=True):
        gy = torch.zeros_like(p) if gy is None else gy
        gd = torch.zeros_like(p) if gd is None else gd
        # theta_d: eq. 15 (gy = 0 there); theta_f: eq. 13; theta_y: eq. 14 (gd = 0 there)
        out[name] = gd if name.startswith("domain_head.") else gy - lambda_ * gd
    return out


class DANNRule(LearningRule):
    """``dann``: joint label + domain-adversarial SGD with the paper's lambda_p and mu_p schedules.

    Needs a model with a domain head (the ``domain_adversarial_head`` adapter) and target rows in every batch
    (``trainer.paired: {split: target_train, keys: [x]}``). The label loss is ``ctx.loss_fn`` (the task's loss
    plus adapters' losses) on the source rows of the batch only: keys starting with ``target_prefix`` are
    removed first, so target labels are never read. Evaluation is the backbone's plain forward.
    State: the step counter, the planned total T and the optimizer state (momentum), so that a resumed run
    continues the same schedules and ends with the same weights.
    """

    Config = DannRuleConfig
    config: DannRuleConfig
    conformance_models: ClassVar[tuple[Any, ...]] = (small_dann_net,)
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {}, {"lambda_schedule": "constant", "anneal_lr": False, "domain_loss_weight": 0.5, "total_steps": 10},
    )
    conformance_experiment: ClassVar[dict[str, Any]] = {
        "data": {"name": "mnistm_digits", "n_source_train": 96, "n_source_val": 16, "n_source_test": 16,
                 "n_target_train": 32, "n_target_test": 16},
        "model": {"name": "dann_mnist_cnn", "conv_channels": [4, 8], "hidden": [16]},
        "adapters": [{"name": "domain_adversarial_head", "hidden": [8]}],
        "trainer": {"paired": {"split": "target_train", "keys": ["x"]}},
    }

    def __init__(self, config: DannRuleConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.optimizer: torch.optim.Optimizer | None = None
        self.updates = 0
        self.total_steps: int | None = self.config.total_steps

    def setup(self, model: nn.Module, ctx: RunContext) -> None:
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(params, lr=self.config.lr0, momentum=self.config.momentum,
                                         weight_decay=self.config.weight_decay)
        if self.total_steps is None:
            self.total_steps = int(ctx.total_steps)
        self._grls = [m for m in model.modules() if isinstance(m, GradientReversal)]

    # ---- schedules ------------------------------------------------------------------------------
    def progress(self, step: int | None = None) -> float:
        """p = t / T in [0, 1] for update ``step`` (default: the next one)."""
        t = self.updates if step is None else step
        return min(t / max(self.total_steps or 1, 1), 1.0)

    def lambda_at(self, step: int | None = None) -> float:
        c = self.config
        return grl_lambda(self.progress(step), c.gamma, c.lambda_max, c.lambda_schedule)

    def lr_at(self, step: int | None = None) -> float:
        c = self.config
        return annealed_lr(self.progress(step), c.lr0, c.lr_alpha, c.lr_beta) if c.anneal_lr else c.lr0

    # ---- one step -------------------------------------------------------------------------------
    def step(self, batch: Mapping[str, Tensor], ctx: RunContext) -> dict[str, float]:
        assert self.optimizer is not None and ctx.loss_fn is not None, "setup() must run first"
        lam, lr = self.lambda_at(), self.lr_at()
        if not self._grls:
            raise ForwardkitError("dann: the model has no gradient reversal layer; attach the domain classifier with "
                                  "the domain_adversarial_head adapter")
        for grl in self._grls:
            grl.lambda_ = lam
        self.optimizer.zero_grad(set_to_none=True)
        out = ctx.run_forward(batch)
        if not isinstance(out, DomainAdversarialOutput):
            raise ForwardkitError("dann: the batch has no target rows (or the model no domain head): draw them with "
                                  "trainer.paired: {split: target_train, keys: [x]} and attach the "
                                  "domain_adversarial_head adapter")
        source = {k: v for k, v in batch.items() if not k.startswith(self.config.target_prefix)}
        n = out.logits.shape[0]
        label_loss = ctx.loss_fn(out.logits, source)
        d_loss, labels = domain_loss(out.domain_logits, n)
        loss = label_loss + self.config.domain_loss_weight * d_loss
        loss.backward()
        with torch.no_grad():
            d_acc = float(((out.domain_logits > 0).float() == labels).float().mean())
        metrics = {"loss": float(loss.detach()), "label_loss": float(label_loss.detach()),
                   "domain_loss": float(d_loss.detach()), "domain_accuracy": d_acc, "lambda": lam, "lr": lr}
        if not finish_step(self.optimizer, ctx, metrics, lr=lr):
            return metrics
        self.updates += 1
        return metrics

    # ---- state ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "total_steps": self.total_steps,
                "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.updates = int(state["updates"])
        self.total_steps = None if state.get("total_steps") is None else int(state["total_steps"])
        if state.get("optimizer") is not None:
            assert self.optimizer is not None, "setup() must run before load_state_dict()"
            self.optimizer.load_state_dict(state["optimizer"])
