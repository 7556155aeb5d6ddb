"""How much attention goes to cross tokens: per Fca block, the softmax mass on the cross-token keys.

For block i with N own and M cross keys the mass of one query row is ``sum_{j > N} A[h, q, j]``; the analyzer
averages it over images, heads and queries. A uniform softmax would give ``M / (N + M)``: the table lists that
share beside the measured mass. The card expects the mass to be > 0 and to grow with the block index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import pairwise
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.interfaces import Analysis, Analyzer
from forwardkit.measure import count_parameters
from forwardkit_fcaformer.config import CrossAttentionMassConfig
from forwardkit_fcaformer.model import FcaFormer

#: a small fcaformer the conformance kit analyses (3 Fca blocks at 4x4, 1 cross token per block)
SMALL_FCAFORMER: dict[str, Any] = {"name": "fcaformer", "preset": "tiny", "image_size": 16, "in_channels": 3,
                                   "num_classes": 4, "dims": [8, 8, 16, 16], "depths": [1, 1, 3, 2], "head_dim": 8}


def cross_mass(weights: Tensor, n_own: int) -> Tensor:
    """``(B,)``: the mean over heads and queries of the softmax mass on keys ``n_own..`` of ``weights``
    ``(B, h, N, N + M)``."""
    return weights[..., n_own:].sum(-1).mean(dim=(1, 2))


@torch.no_grad()
def cross_attention_mass(model: FcaFormer, x: Tensor) -> list[dict[str, Any]]:
    """One row per Fca block of ``model`` (eval) on images ``x`` ``(B, H, W, C)``: ``stage`` (1-based, as in the
    paper), ``block`` (0-based), ``own_keys`` N, ``cross_keys`` M, ``cross_mass`` (mean over the batch; 0 when
    M = 0), ``uniform_share`` ``M / (N + M)``."""
    model.eval()
    _, weights = model.forward_with_weights(x)
    rows = []
    for (stage_index, _stage), stage_weights in zip(model.fca_stages(), weights, strict=True):
        n = model.grids[stage_index] ** 2
        for b, w in enumerate(stage_weights):
            m = w.shape[-1] - n
            rows.append({"stage": stage_index + 1, "block": b, "own_keys": n, "cross_keys": m,
                         "cross_mass": float(cross_mass(w, n).mean()) if m else 0.0, "uniform_share": m / (n + m)})
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Means over the blocks that read cross tokens, and the share of block-to-block steps (within a stage)
    along which the mass rises."""
    crossed = [r for r in rows if r["cross_keys"]]
    out: dict[str, float] = {"fca_blocks": float(len(rows)), "blocks_with_cross_tokens": float(len(crossed))}
    if not crossed:
        return out
    masses = [r["cross_mass"] for r in crossed]
    out.update(mean_cross_mass=sum(masses) / len(masses), min_cross_mass=min(masses), max_cross_mass=max(masses),
               mean_uniform_share=sum(r["uniform_share"] for r in crossed) / len(crossed))
    steps = [(a, b) for a, b in pairwise(crossed) if a["stage"] == b["stage"]]
    if steps:
        out["rising_fraction"] = sum(b["cross_mass"] > a["cross_mass"] for a, b in steps) / len(steps)
    return out


class CrossAttentionMass(Analyzer):
    """Numbers: ``stage<s>/block<i>/cross_mass`` and ``.../cross_keys`` per Fca block, ``mean_cross_mass`` (over
    the blocks with cross tokens), ``min_cross_mass``, ``max_cross_mass``, ``mean_uniform_share``,
    ``rising_fraction`` (share of consecutive blocks of a stage whose mass rises), ``parameters``. Table
    ``blocks``; figure ``cross_mass`` (optional)."""

    Config = CrossAttentionMassConfig
    config: CrossAttentionMassConfig
    conformance_models: ClassVar[tuple[Any, ...]] = (SMALL_FCAFORMER,)

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        if not isinstance(model, FcaFormer):
            raise TypeError(f"CrossAttentionMass needs an 'fcaformer' model, got {type(model).__name__}")
        batches = [b for b in (data or []) if isinstance(b, Mapping) and "x" in b][: self.config.max_batches]
        if not batches:
            batches = [model.example_batch(8, generator=torch.Generator().manual_seed(0))]
        per_batch = [cross_attention_mass(model, b["x"]) for b in batches]
        sizes = [b["x"].shape[0] for b in batches]
        rows = [dict(r) for r in per_batch[0]]
        for j, row in enumerate(rows):  # weighted by batch size
            row["cross_mass"] = sum(p[j]["cross_mass"] * s for p, s in zip(per_batch, sizes, strict=True)) / sum(sizes)
        numbers = _summary(rows)
        numbers["parameters"] = float(count_parameters(model))
        numbers["images"] = float(sum(sizes))
        for r in rows:
            key = f"stage{r['stage']}/block{r['block']}"
            numbers[f"{key}/cross_mass"] = r["cross_mass"]
            numbers[f"{key}/cross_keys"] = float(r["cross_keys"])
        out = Analysis(numbers=numbers, tables={"blocks": rows})
        if self.config.figure:
            out.figures["cross_mass"] = _figure(rows)
        return out


def _figure(rows: list[dict[str, Any]]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(3.0, 0.5 * len(rows)), 2.6))
    labels = [f"s{r['stage']}b{r['block']}" for r in rows]
    ax.bar(labels, [r["cross_mass"] for r in rows], label="measured")
    ax.plot(labels, [r["uniform_share"] for r in rows], "k_", markersize=14, label="uniform share M/(N+M)")
    ax.set_ylabel("attention mass on cross tokens")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
