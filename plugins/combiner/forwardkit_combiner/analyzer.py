"""EffectiveAttentionAnalyzer: the implied attention matrix ``q(j | i)`` of eq. 8 in every attention layer of a
model, and what the paper says about it (§3.1 full support, §3.3 rank-1 blocks).

Each attention mixer of the model (Combiner, the sparse baselines, the builtin ``attention``) is hooked, the
model runs on the data, and each mixer's input gives its matrix ``(B, h, L, L)`` (``effective_attention``;
for the builtin attention, the softmax of its scores). Per layer the analysis reports:

* ``row_sum_error``: ``max_i |sum_j q(j|i) - 1|`` (a valid conditional distribution);
* ``future_mass``: the largest ``q(j|i)`` with ``j > i`` (0 for a causal layer);
* ``support_coverage``: the share of allowed pairs (``j <= i`` when causal, all when not) with ``q(j|i) > 0``
  (1 for Combiner: full attention; below 1 for a sparse pattern);
* ``min_allowed_weight``: the smallest such ``q(j|i)``;
* ``kl_to_full``: mean over rows of ``KL(q(.|i) || p(.|i))`` to full softmax attention ``p`` of the same q, k
  (causal when the layer is), 0 for full attention;
* ``block_rank_max`` / ``block_rank_mean``: numerical ranks of the blocks (queries of segment a) x (keys of
  segment b), b < a (b != a without causality), on the layer's segment grid; 1 for Combiner-Fixed (§3.3).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.data import example_batch, forward_batch
from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_combiner.config import EffectiveAttentionConfig
from forwardkit_combiner.grid import segments
from forwardkit_combiner.heads import HeadsAttention

__all__ = ["EffectiveAttentionAnalyzer", "attention_layers", "block_ranks", "effective_attention", "layer_summary"]


def _is_builtin_attention(module: nn.Module) -> bool:
    return callable(getattr(module, "attention_scores", None)) and hasattr(module, "qkv")


def attention_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of every attention mixer the analyzer can read, in module order."""
    return [(name, m) for name, m in model.named_modules()
            if isinstance(m, HeadsAttention) or _is_builtin_attention(m)]


@torch.no_grad()
def effective_attention(mixer: nn.Module, x: Tensor) -> Tensor:
    """``q(j | i)`` ``(B, h, L, L)`` of ``mixer`` on its input ``x (B, *spatial, C)``."""
    if isinstance(mixer, HeadsAttention):
        return mixer.effective_attention(x)
    if _is_builtin_attention(mixer):
        scores: Tensor = getattr(mixer, "attention_scores")(x)  # noqa: B009 - a method nn.Module's typing hides
        return scores.softmax(dim=-1)
    raise TypeError(f"{type(mixer).__name__} exposes no attention matrix")


@torch.no_grad()
def _full_attention(mixer: nn.Module, x: Tensor, causal: bool) -> Tensor:
    """Full softmax attention ``p(j | i)`` of the same queries and keys."""
    if not isinstance(mixer, HeadsAttention):
        return effective_attention(mixer, x)
    q, k, _ = mixer.heads(x)
    scores = q @ k.transpose(-1, -2)
    if causal:
        n = scores.shape[-1]
        scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
    return scores.softmax(-1)


def block_ranks(matrix: Tensor, rows: int, *, causal: bool, tol: float) -> list[int]:
    """Numerical ranks (singular values above ``tol`` times the largest) of the off-diagonal segment blocks of an
    ``(L, L)`` matrix cut into ``rows`` segments: blocks (a, b) with b < a (b != a when not ``causal``)."""
    length = matrix.shape[-1]
    s = length // rows
    out = []
    for a in range(rows):
        for b in range(rows):
            if b == a or (causal and b > a):
                continue
            block = matrix[a * s : (a + 1) * s, b * s : (b + 1) * s].double()
            sv = torch.linalg.svdvals(block)
            top = float(sv[0]) if sv.numel() else 0.0
            out.append(int((sv > tol * top).sum()) if top > 0 else 0)
    return out


def layer_summary(eff: Tensor, full: Tensor, *, causal: bool, rows: int, tol: float) -> dict[str, float]:
    """The per-layer numbers of the module docstring from ``eff`` and ``full`` ``(B, h, L, L)``."""
    n = eff.shape[-1]
    future = torch.ones(n, n, dtype=torch.bool, device=eff.device).triu(1)
    allowed = ~future if causal else torch.ones_like(future)
    eff64, full64 = eff.double(), full.double()
    kl = torch.where(eff64 > 0, eff64 * (eff64.clamp_min(1e-300).log() - full64.clamp_min(1e-300).log()),
                     torch.zeros_like(eff64)).sum(-1)
    ranks = [r for m in eff.reshape(-1, n, n) for r in block_ranks(m, rows, causal=causal, tol=tol)] if rows > 1 \
        else []
    return {
        "row_sum_error": float((eff64.sum(-1) - 1).abs().max()),
        "future_mass": float(eff64.masked_fill(~future, 0).max()) if bool(future.any()) else 0.0,
        "support_coverage": float((eff64 > 0)[..., allowed].double().mean()),
        "min_allowed_weight": float(eff64[..., allowed].min()),
        "kl_to_full": float(kl.mean()),
        "block_rank_max": float(max(ranks)) if ranks else 0.0,
        "block_rank_mean": float(sum(ranks) / len(ranks)) if ranks else 0.0,
    }


def _inputs(model: nn.Module, layers: list[tuple[str, nn.Module]], batches: list[Mapping[str, Tensor]],
            limit: int) -> dict[str, Tensor]:
    """The input of every hooked layer over the batches (at most ``limit`` samples)."""
    seen: dict[str, list[Tensor]] = {name: [] for name, _ in layers}
    hooks = [m.register_forward_pre_hook(lambda _m, args, name=name: seen[name].append(args[0].detach()))
             for name, m in layers]
    taken = 0
    try:
        with torch.no_grad():
            for batch in batches:
                if taken >= limit:
                    break
                forward_batch(model, batch)
                taken += len(next(iter(batch.values())))
    finally:
        for hook in hooks:
            hook.remove()
    return {name: torch.cat(xs)[:limit] for name, xs in seen.items() if xs}


class EffectiveAttentionAnalyzer(Analyzer):
    """Effective attention of every attention layer (see the module docstring). Numbers ``<layer>/<key>``, the
    worst over layers as ``<key>`` (max of errors and ranks, min of coverage and weights); table ``layers``;
    figure ``effective_attention`` with ``figure=True``."""

    Config = EffectiveAttentionConfig
    config: EffectiveAttentionConfig
    conformance_models: ClassVar[tuple[Any, ...]] = (
        {"name": "combiner-ar-tiny", "grid": [4, 4], "dim": 16, "depth": 1},
        {"name": "combiner-ar-tiny", "grid": [4, 4], "dim": 16, "depth": 1,
         "token_mixer": {"name": "sparse_fixed_attention"}},
    )

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        model.eval()
        layers = attention_layers(model)
        batches = [b for b in (data or []) if isinstance(b, Mapping)] or [example_batch(None, model, batch_size=2)]
        inputs = _inputs(model, layers, batches, self.config.max_samples)
        rows_out: list[dict[str, Any]] = []
        numbers: dict[str, float] = {"layers": float(len(inputs))}
        mats: dict[str, Tensor] = {}
        for name, module in layers:
            if name not in inputs:
                continue
            row, eff = self._layer(name, module, inputs[name])
            rows_out.append(row)
            mats[name] = eff
            numbers.update({f"{name}/{k}": float(v) for k, v in row.items() if isinstance(v, float)})
        numbers.update(_worst(rows_out))
        out = Analysis(numbers=numbers, tables={"layers": rows_out})
        if self.config.figure and mats:
            out.figures["effective_attention"] = _figure(mats)
        return out

    def _layer(self, name: str, module: nn.Module, x: Tensor) -> tuple[dict[str, Any], Tensor]:
        spatial = tuple(int(s) for s in x.shape[1:-1])
        length = math.prod(spatial)
        if length > self.config.max_tokens:
            raise ValueError(f"layer {name!r} has {length} tokens, above max_tokens={self.config.max_tokens}")
        causal = bool(getattr(module, "causal", False))
        eff = effective_attention(module, x)
        full = _full_attention(module, x, causal)
        seg = getattr(getattr(module, "config", None), "segment_len", None)
        try:
            rows = segments(spatial, seg)[0]
        except ValueError:
            rows = 1
        stats = layer_summary(eff, full, causal=causal, rows=rows, tol=self.config.rank_tol)
        variant = getattr(getattr(module, "config", None), "variant", None)
        return {"layer": name, "mixer": type(module).__name__, "variant": variant or "", "causal": causal,
                "tokens": length, **stats}, eff[0, 0]


_WORST_MAX = ("row_sum_error", "future_mass", "kl_to_full", "block_rank_max")
_WORST_MIN = ("support_coverage", "min_allowed_weight")


def _worst(rows: list[dict[str, Any]]) -> dict[str, float]:
    if not rows:
        return {}
    out = {k: max(float(r[k]) for r in rows) for k in _WORST_MAX}
    out.update({k: min(float(r[k]) for r in rows) for k in _WORST_MIN})
    return out


def _figure(mats: dict[str, Tensor]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(mats), figsize=(3.2 * len(mats), 3.2), squeeze=False)
    for ax, (name, mat) in zip(axes[0], mats.items(), strict=True):
        ax.imshow(mat.clamp_min(1e-6).log10().numpy(), cmap="viridis")
        ax.set_title(f"{name}: log10 q(j|i)", fontsize=7)
        ax.set_axis_off()
    fig.tight_layout()
    return fig
