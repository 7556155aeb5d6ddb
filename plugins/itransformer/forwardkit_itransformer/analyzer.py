"""Do the variate attention scores track the correlations between variates? (paper §4.3, Fig. 7, App. E.1)"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.data import example_batch
from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_itransformer.config import VariateAttentionConfig

__all__ = ["VariateAttentionAnalyzer", "correlation_matrix", "map_correlation"]


def correlation_matrix(series: Tensor) -> Tensor:
    """Pearson correlations between the variates of ``series`` ``(B, L, N)`` over its L steps: ``(B, N, N)``
    (a constant variate correlates 0 with everything)."""
    centred = series - series.mean(dim=1, keepdim=True)
    norm = centred.norm(dim=1).clamp_min(1e-8)  # (B, N)
    return (centred.transpose(1, 2) @ centred) / (norm[:, :, None] * norm[:, None, :])


def map_correlation(a: Tensor, b: Tensor) -> Tensor:
    """Pearson correlation between two maps ``(B, N, N)`` over their N*N entries, per sample: ``(B,)``."""
    a = a.flatten(1) - a.flatten(1).mean(dim=1, keepdim=True)
    b = b.flatten(1) - b.flatten(1).mean(dim=1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)


class VariateAttentionAnalyzer(Analyzer):
    """For each encoder layer of an :class:`~forwardkit_itransformer.inverted.InvertedForecaster`, the
    correlation between its head-averaged variate score map ``(N, N)`` and the Pearson correlation
    matrix of the lookback window (``layer<i>/vs_lookback``) and of the future window
    (``layer<i>/vs_future``), averaged over samples. The paper reports that shallow layers resemble the
    lookback correlations and deep layers the future ones."""

    Config = VariateAttentionConfig
    config: VariateAttentionConfig
    conformance_models = ({"name": "itransformer", "lookback": 8, "horizon": 3, "d_model": 8, "num_heads": 2,
                           "d_ff": 8},)

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        scores_of = getattr(model, "variate_scores", None)
        if scores_of is None:
            raise ForwardkitError(f"variate_attention analyses an inverted forecaster (with variate_scores), "
                                  f"not {type(model).__name__}")
        if data is None:
            data = [example_batch(None, model, batch_size=8)]
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        per_layer: dict[int, dict[str, list[Tensor]]] = {}
        seen = 0
        first: tuple[Tensor, Tensor, Tensor | None] | None = None
        for batch in data:
            if seen >= self.config.max_samples:
                break
            x = batch["x"][: self.config.max_samples - seen].to(device).float()
            y = batch.get("y")
            n = x.shape[-1]
            scores = scores_of(x, batch.get("x_mark"))
            look = correlation_matrix(x)
            fut = None
            if y is not None and y.dim() == 3 and y.shape[-1] == n and y.shape[1] > 1:
                fut = correlation_matrix(y[: x.shape[0]].to(device).float())
            for i, s in enumerate(scores):
                m = s[:, :, :n, :n]
                m = (m if self.config.pre_softmax else m.softmax(-1)).mean(dim=1)  # (B, N, N)
                rec = per_layer.setdefault(i, {"vs_lookback": [], "vs_future": []})
                rec["vs_lookback"].append(map_correlation(m, look))
                if fut is not None:
                    rec["vs_future"].append(map_correlation(m, fut))
                if first is None and i == len(scores) - 1:
                    first = (m[0].cpu(), look[0].cpu(), None if fut is None else fut[0].cpu())
            seen += x.shape[0]
        model.train(was_training)
        numbers: dict[str, float] = {}
        rows: list[dict[str, Any]] = []
        for i, rec in per_layer.items():
            row: dict[str, Any] = {"layer": i}
            for key, vals in rec.items():
                if vals:
                    value = float(torch.cat(vals).nan_to_num(0.0).mean())
                    numbers[f"layer{i}/{key}"] = value
                    row[key] = value
            rows.append(row)
        analysis = Analysis(numbers=numbers, tables={"layers": rows})
        if self.config.figure and first is not None:
            analysis.figures["maps"] = _figure(*first)
        return analysis


def _figure(scores: Tensor, look: Tensor, fut: Tensor | None) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("last-layer scores", scores), ("lookback correlation", look)]
    if fut is not None:
        panels.append(("future correlation", fut))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3))
    for ax, (title, mat) in zip(axes, panels, strict=True):
        ax.imshow(mat.numpy(), cmap="viridis")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig
