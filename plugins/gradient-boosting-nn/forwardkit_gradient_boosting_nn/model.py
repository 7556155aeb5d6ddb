"""The merged GB-NN head, ``boosted_mlp``, and the paper-literal staged ensemble it equals.

``BoostedMLP`` is an ordinary one-hidden-layer network ``x -> Linear(D, T*J) -> act -> Linear(T*J, K)``
(one matmul per layer at inference; merge M, the official ``to_NN``). Stage ``t`` (0-based) owns
the hidden units ``[t*J, (t+1)*J)``: their input weights and biases are the stage regressor's ``W_t, c_t``,
their output columns ``rho_t E V_t``, and the output bias is ``E (F_0 + sum_t rho_t d_t)`` (``E`` the loss's
embedding, :func:`forwardkit_gradient_boosting_nn.losses.embedding`: the identity, or the binary loss's
``[[0], [2]]``). Each stage's bias term ``rho_t E d_t`` is also kept in the buffer ``stage_bias``, so that
``forward(x, n_stages=t)`` -- the first ``t`` stages, every later unit switched off -- equals the staged
prediction ``F_t`` exactly (the paper's anytime truncation). ``StagedEnsemble`` is the model as the official
code keeps it before merging: ``F_0`` and the list of stage regressors with their steps.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Model
from forwardkit_gradient_boosting_nn.config import BoostedMLPConfig
from forwardkit_gradient_boosting_nn.stage import ACTIVATIONS, StageNet, glorot_bound, glorot_uniform_

__all__ = ["BoostedMLP", "StagedEnsemble"]


class BoostedMLP(Model):
    """GB-NN's merged network: ``(B, *input_shape)`` -> ``(B, K)`` outputs (logits or regression values).

    ``forward(x, n_stages=None)``: every unit; ``n_stages=t``: only the first ``t`` stages (units ``< t*J``),
    i.e. ``E F_t(x)`` (the stage loop stopped after ``t`` stages). ``staged_outputs(x)`` gives all ``T + 1`` of
    them at the cost of one forward. With a ``backbone`` the head reads its output features.
    """

    Config = BoostedMLPConfig
    config: BoostedMLPConfig
    stage_bias: Tensor
    rho: Tensor
    fitted: Tensor

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.backbone: nn.Module | None = None
        if cfg.backbone is not None:
            from forwardkit.compose import build_model

            self.backbone = build_model(cfg.backbone)
        width, units = self.head_features, cfg.stages * cfg.units_per_stage
        self.hidden = nn.Linear(width, units)
        self.out = nn.Linear(units, cfg.num_classes)
        #: ``rho_t E d_t`` of every stage (``(T, K)``), so that truncated outputs keep only their own biases
        self.register_buffer("stage_bias", torch.zeros(cfg.stages, cfg.num_classes))
        #: the scaled step of every stage, ``eta * newton_step`` (0 for stages not fitted)
        self.register_buffer("rho", torch.zeros(cfg.stages))
        #: how many stages the boosting rule has fitted (the next one to fit)
        self.register_buffer("fitted", torch.zeros((), dtype=torch.long))
        self.reset_parameters()

    @property
    def head_features(self) -> int:
        """``D``: the head's input width (the backbone's output width, or ``in_features``)."""
        cfg = self.config
        if self.backbone is None:
            return cfg.in_features
        if cfg.backbone_features is not None:
            return cfg.backbone_features
        was = self.backbone.training
        self.backbone.eval()
        with torch.no_grad():
            probe = self.backbone.example_batch(1, generator=torch.Generator().manual_seed(0))  # type: ignore[operator]
            width = int(self.backbone(probe["x"]).reshape(1, -1).shape[1])
        self.backbone.train(was)
        return width

    @property
    def units_per_stage(self) -> int:
        return self.config.units_per_stage

    @property
    def num_stages(self) -> int:
        return self.config.stages

    def stage_slice(self, t: int) -> slice:
        """The hidden units of stage ``t`` (0-based)."""
        j = self.config.units_per_stage
        return slice(t * j, (t + 1) * j)

    def reset_parameters(self) -> None:
        """scikit-learn's Glorot-uniform init: every stage's block of hidden units as a fresh ``J``-unit
        regressor (fan ``D, J``), the output layer as the ``T*J``-unit joint network's (fan ``T*J, K``)."""
        cfg = self.config
        d, j = self.hidden.in_features, cfg.units_per_stage
        with torch.no_grad():
            b = glorot_bound(d, j, cfg.activation)
            for t in range(cfg.stages):
                glorot_uniform_(self.hidden.weight[self.stage_slice(t)], b)
                glorot_uniform_(self.hidden.bias[self.stage_slice(t)], b)
            b = glorot_bound(self.out.in_features, cfg.num_classes, cfg.activation)
            glorot_uniform_(self.out.weight, b)
            glorot_uniform_(self.out.bias, b)
            self.stage_bias.zero_()
            self.rho.zero_()
            self.fitted.zero_()

    # ---- forward -----------------------------------------------------------------------------------------
    def features(self, x: Tensor) -> Tensor:
        """The head's input ``(B, D)``: the backbone's output, or ``x`` flattened."""
        if self.backbone is not None:
            return self.backbone(x).reshape(x.shape[0], -1)
        return x.reshape(x.shape[0], -1)

    def hidden_units(self, z: Tensor) -> Tensor:
        """``act(W z + c)``: ``(B, D)`` -> ``(B, T*J)``."""
        return ACTIVATIONS[self.config.activation](self.hidden(z))

    def head(self, z: Tensor, n_stages: int | None = None) -> Tensor:
        """The head on features ``z`` ``(B, D)`` -> ``(B, K)``, all stages or the first ``n_stages``."""
        if n_stages is None or n_stages >= self.config.stages:
            return self.out(self.hidden_units(z))
        t = max(int(n_stages), 0)
        units = t * self.config.units_per_stage
        h = ACTIVATIONS[self.config.activation](z @ self.hidden.weight[:units].T + self.hidden.bias[:units])
        return h @ self.out.weight[:, :units].T + (self.out.bias - self.stage_bias[t:].sum(dim=0))

    def forward(self, x: Tensor, n_stages: int | None = None) -> Tensor:
        return self.head(self.features(x), n_stages)

    def staged_outputs(self, x: Tensor) -> Tensor:
        """``(T + 1, B, K)``: the outputs with ``0, 1, ..., T`` stages (``[t]`` equals ``forward(x, n_stages=t)``)."""
        cfg = self.config
        h = self.hidden_units(self.features(x))  # (B, T*J)
        b, t, j = h.shape[0], cfg.stages, cfg.units_per_stage
        per_stage = torch.einsum("btj,ktj->tbk", h.view(b, t, j), self.out.weight.view(-1, t, j))
        per_stage = per_stage + self.stage_bias[:, None, :]
        base = (self.out.bias - self.stage_bias.sum(dim=0)).expand(1, b, -1)
        return torch.cat([base, base + per_stage.cumsum(dim=0)], dim=0)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        if self.backbone is not None:
            x = self.backbone.example_batch(batch_size, generator=generator)["x"]  # type: ignore[operator]
        else:
            x = torch.randn(batch_size, self.config.in_features, generator=generator)
        y = torch.randint(0, self.config.num_classes, (batch_size,), generator=generator)
        return {"x": x, "y": y}

    # ---- writing stages (the boosting rule) --------------------------------------------------------------
    @torch.no_grad()
    def start_boosting(self, bias0: Tensor) -> None:
        """Switch every unit off and set the output bias to ``E F_0`` ``(K,)`` (step S1)."""
        self.out.weight.zero_()
        self.out.bias.copy_(bias0)
        self.stage_bias.zero_()
        self.rho.zero_()
        self.fitted.zero_()

    @torch.no_grad()
    def set_stage(self, t: int, net: StageNet, rho: float, embedding: Tensor) -> None:
        """Write stage ``t``'s regressor ``net`` scaled by ``rho`` into units ``stage_slice(t)``: hidden
        ``W_t, c_t`` (unless those parameters are frozen), output columns ``rho E V_t`` and bias ``rho E d_t``."""
        if net.hidden.out_features != self.config.units_per_stage or net.hidden.in_features != self.hidden.in_features:
            raise ValueError(f"stage regressor {tuple(net.hidden.weight.shape)} does not fit units of shape "
                             f"({self.config.units_per_stage}, {self.hidden.in_features})")
        block = self.stage_slice(t)
        weight, bias, v, d = (p.detach() for p in net.tensors())
        if self.hidden.weight.requires_grad:
            self.hidden.weight[block] = weight
        if self.hidden.bias.requires_grad:
            self.hidden.bias[block] = bias
        e = embedding.to(self.out.weight)
        self.out.weight[:, block] = rho * (e @ v)
        contribution = rho * (e @ d)
        self.out.bias.add_(contribution - self.stage_bias[t])
        self.stage_bias[t] = contribution
        self.rho[t] = rho
        self.fitted.fill_(max(int(self.fitted), t + 1))

    # ---- building and truncating -------------------------------------------------------------------------
    @classmethod
    def from_stages(cls, stages: Sequence[StageNet], rhos: Sequence[float], f0: Tensor, *, embedding: Tensor,
                    activation: str | None = None) -> BoostedMLP:
        """The merged network of ``F_0 + sum_t rho_t h_t`` (the official ``to_NN``): ``stages`` the ``T``
        regressors (``D -> J -> Ks``), ``rhos`` their steps, ``f0`` ``(Ks,)``, ``embedding`` ``E`` ``(K, Ks)``."""
        if not stages or len(stages) != len(rhos):
            raise ValueError(f"need one step per stage, got {len(stages)} stages and {len(rhos)} steps")
        first = stages[0]
        model = cls(in_features=first.hidden.in_features, num_classes=int(embedding.shape[0]), stages=len(stages),
                    units_per_stage=first.hidden.out_features, activation=activation or first.activation)
        model.start_boosting(embedding.to(model.out.bias) @ f0.to(model.out.bias))
        for t, (net, rho) in enumerate(zip(stages, rhos, strict=True)):
            model.set_stage(t, net, float(rho), embedding)
        return model

    def truncated(self, n_stages: int) -> BoostedMLP:
        """A new, smaller network of the first ``n_stages`` stages only (``n_stages * J`` hidden units) whose
        outputs equal ``forward(x, n_stages)``; the backbone is copied."""
        cfg = self.config
        t = min(max(int(n_stages), 1), cfg.stages)
        units = t * cfg.units_per_stage
        small = type(self)(cfg.model_copy(update={"stages": t}))
        with torch.no_grad():
            if self.backbone is not None:
                small.backbone = copy.deepcopy(self.backbone)
            small.hidden.weight.copy_(self.hidden.weight[:units])
            small.hidden.bias.copy_(self.hidden.bias[:units])
            small.out.weight.copy_(self.out.weight[:, :units])
            small.out.bias.copy_(self.out.bias - self.stage_bias[t:].sum(dim=0))
            small.stage_bias.copy_(self.stage_bias[:t])
            small.rho.copy_(self.rho[:t])
            small.fitted.fill_(min(int(self.fitted), t))
        return small.train(self.training)


class StagedEnsemble(nn.Module):
    """The boosted model before merging (steps S1-S6; the official ``GNEGNE._decision_function``):
    ``F(x) = F_0 + sum_t rho_t h_t(x)`` on features ``x`` ``(N, D)``, outputs ``F(x) E^T`` ``(N, K)``."""

    f0: Tensor
    embedding: Tensor
    rhos: Tensor

    def __init__(self, f0: Tensor, stages: Sequence[StageNet], rhos: Sequence[float], embedding: Tensor) -> None:
        super().__init__()
        self.register_buffer("f0", f0.detach().clone().float())
        self.register_buffer("embedding", embedding.detach().clone().float())
        self.register_buffer("rhos", torch.tensor([float(r) for r in rhos], dtype=torch.float32))
        self.stages = nn.ModuleList(stages)

    def scores(self, x: Tensor, n_stages: int | None = None) -> Tensor:
        """``F_t(x)`` ``(N, Ks)``, stage by stage (``t = n_stages``, default all)."""
        f = self.f0.expand(x.shape[0], -1)
        for t, net in enumerate(self.stages):
            if n_stages is not None and t >= n_stages:
                break
            f = f + self.rhos[t] * net(x)
        return f

    def forward(self, x: Tensor, n_stages: int | None = None) -> Tensor:
        return self.scores(x, n_stages) @ self.embedding.T

    def merge(self) -> BoostedMLP:
        """The single network with ``T * J`` hidden units that computes the same outputs."""
        nets = [net for net in self.stages if isinstance(net, StageNet)]
        return BoostedMLP.from_stages(nets, self.rhos.tolist(), self.f0, embedding=self.embedding)
