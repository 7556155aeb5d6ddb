"""``MoEFFN``: the top-k mixture-of-experts FFN of WideNet and ViT-MoE (paper sec. "Mixture-of-Experts", eqs. 1-3),
a channel mixer on ``(B, *spatial, C)``.

Per call, over the ``N = B * prod(spatial)`` tokens of the input: the router picks K of E experts per token (noisy
softmax, eq. 2), each expert serves at most ``capacity`` choices (the rest are dropped: their output is 0 and the
block's residual passes them on), the kept choices are combined with their gate weights (eq. 1), and the call's
load-balance loss is recorded (``last_aux_loss``; ``moe_aux_loss`` or the ``widenet`` adapter adds it to the
training loss). Because the capacity is per call, a token can be dropped because *other* tokens filled its
expert: the mixer is pointwise only where no choice can drop (``capacity_factor * K >= E`` or no dropping).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.interfaces import ChannelMixer
from forwardkit.nn import hidden_width, make_activation
from forwardkit_widenet.config import MoEFFNConfig
from forwardkit_widenet.dispatch import ExpertWeights, dense_moe_reference, einsum_moe, sorted_moe
from forwardkit_widenet.records import RoutingRecord, RoutingRecorder
from forwardkit_widenet.routing import expert_capacity, load_balance_loss, route


class MoEFFN(RoutingRecorder, ChannelMixer):
    """Top-k MoE FFN on ``(B, *spatial, C)`` tokens (any rank).

    Parameters: ``router`` ``(E, C)`` (no bias), expert weights ``w1`` ``(E, C, H)``, ``b1`` ``(E, H)``, ``w2``
    ``(E, H, C)``, ``b2`` ``(E, C)``. With E = K = 1, no noise and no dropping it is exactly the dense FFN
    ``W2 act(W1 x + b1) + b2`` (the single gate is 1)."""

    Config = MoEFFNConfig
    config: MoEFFNConfig
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {},
        {"num_experts": 1, "top_k": 1, "router_noise": "none"},
        {"num_experts": 8, "top_k": 2, "capacity_factor_eval": 4.0, "dispatch": "einsum", "priority": "token"},
        {"num_experts": 3, "top_k": 3, "drop_tokens": False, "dispatch": "dense", "normalize_topk": True,
         "aux_loss": "switch", "activation": "relu", "bias": False},
    )

    def __init__(self, config: MoEFFNConfig | None = None, **overrides: Any) -> None:
        ChannelMixer.__init__(self, config, **overrides)
        self._init_records()
        cfg = self.config
        e, c = cfg.num_experts, cfg.dim
        h = hidden_width(c, hidden_dim=cfg.hidden_dim, mlp_ratio=cfg.d_ff_ratio)
        self.router = nn.Linear(c, e, bias=False)
        self.w1 = nn.Parameter(torch.empty(e, c, h))
        self.w2 = nn.Parameter(torch.empty(e, h, c))
        self.b1 = nn.Parameter(torch.zeros(e, h)) if cfg.bias else None
        self.b2 = nn.Parameter(torch.zeros(e, c)) if cfg.bias else None
        self.act = make_activation(cfg.activation)
        # the mixer is token-wise in eval only when the eval capacity can never overflow
        vars(self)["pointwise"] = not self.can_drop(training=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Router: truncated normal of std sqrt(0.1 / C) (ColossalAI's gate); experts: std 0.02, zero biases."""
        nn.init.trunc_normal_(self.router.weight, std=math.sqrt(0.1 / self.config.dim))
        nn.init.trunc_normal_(self.w1, std=0.02)
        nn.init.trunc_normal_(self.w2, std=0.02)
        for b in (self.b1, self.b2):
            if b is not None:
                nn.init.zeros_(b)

    # ---- settings of one call -------------------------------------------------------------------------------
    @property
    def hidden(self) -> int:
        return int(self.w1.shape[-1])

    def noise_std(self) -> float:
        """Router noise std in training (paper eq. 2's epsilon; None in the config: 1/E, the authors' code)."""
        cfg = self.config
        if cfg.router_noise == "none":
            return 0.0
        return cfg.noise_std if cfg.noise_std is not None else 1.0 / cfg.num_experts

    def capacity(self, num_tokens: int, *, training: bool | None = None) -> int:
        """Per-expert capacity for a call on ``num_tokens`` tokens (``num_tokens`` when tokens are not dropped)."""
        cfg = self.config
        training = self.training if training is None else training
        if not cfg.drop_tokens:
            return num_tokens
        factor = cfg.capacity_factor_train if training else cfg.capacity_factor_eval
        return expert_capacity(num_tokens, num_experts=cfg.num_experts, top_k=cfg.top_k, factor=factor,
                               min_capacity=cfg.min_capacity)

    def can_drop(self, *, training: bool) -> bool:
        """Whether some routing could overflow an expert: a capacity below the token count is reachable."""
        cfg = self.config
        factor = cfg.capacity_factor_train if training else cfg.capacity_factor_eval
        return cfg.drop_tokens and factor * cfg.top_k < cfg.num_experts

    def experts(self) -> ExpertWeights:
        cfg = self.config
        return ExpertWeights(self.w1, self.b1, self.w2, self.b2, act=self.act, drop=cfg.drop, training=self.training)

    # ---- forward ----------------------------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        cfg = self.config
        tokens = x.reshape(-1, x.shape[-1])
        routing = route(tokens, self.router.weight, top_k=cfg.top_k,
                        noise_std=self.noise_std() if self.training else 0.0, normalize=cfg.normalize_topk)
        capacity = self.capacity(tokens.shape[0])
        if cfg.dispatch == "dense":
            out = dense_moe_reference(tokens, routing, self.experts())
            kept = torch.ones_like(routing.index, dtype=torch.bool)
        else:
            kernel = sorted_moe if cfg.dispatch == "sorted" else einsum_moe
            out, kept = kernel(tokens, routing, self.experts(), capacity=capacity, priority=cfg.priority)
        aux = None if cfg.aux_loss == "none" else load_balance_loss(routing.probs, routing.index, kind=cfg.aux_loss)
        self._record(RoutingRecord(index=routing.index.detach(), kept=kept.detach(),
                                   gates=(routing.gates * kept).detach(), capacity=capacity,
                                   num_experts=cfg.num_experts, aux_loss=aux))
        return out.to(x.dtype).reshape(x.shape)

    # ---- from a dense FFN -------------------------------------------------------------------------------------
    @torch.no_grad()
    def load_dense(self, fc1: nn.Linear, fc2: nn.Linear, *, noise: float = 0.0) -> None:
        """Every expert becomes a copy of the dense FFN ``fc2(act(fc1(x)))`` plus Gaussian noise of std
        ``noise * std(weight)`` per tensor (so that the experts can diverge); the router keeps its init."""
        if fc1.weight.shape != (self.hidden, self.config.dim) or fc2.weight.shape != (self.config.dim, self.hidden):
            raise ValueError(f"cannot load a dense FFN {tuple(fc1.weight.shape)} -> {tuple(fc2.weight.shape)} into "
                             f"experts of width {self.hidden} on {self.config.dim} channels")
        pairs = [(self.w1, fc1.weight.t()), (self.w2, fc2.weight.t()), (self.b1, fc1.bias), (self.b2, fc2.bias)]
        for target, source in pairs:
            if target is None:
                continue
            if source is None:
                target.zero_()
                continue
            target.copy_(source.unsqueeze(0).expand_as(target))
            if noise > 0 and source.numel() > 1:
                target.add_(torch.randn_like(target) * noise * float(source.float().std()))

    def extra_repr(self) -> str:
        cfg = self.config
        return (f"dim={cfg.dim}, experts={cfg.num_experts}, top_k={cfg.top_k}, hidden={self.hidden}, "
                f"dispatch={cfg.dispatch}")
