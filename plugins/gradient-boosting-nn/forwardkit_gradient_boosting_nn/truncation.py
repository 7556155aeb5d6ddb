"""``stage_truncation``: GB-NN's anytime truncation as a compressor (the abstract: "switch off a number of
hidden units during test (the units that were last trained) without a significant reduction of its
generalization ability").

Keeping the first ``t'`` stages of a ``boosted_mlp`` is exactly the staged prediction ``F_{t'}`` (each stage's
own bias is kept apart, see :mod:`forwardkit_gradient_boosting_nn.model`), so one forward pass on the
calibration data scores every ``t'`` at once (:func:`truncation_curve`). The compressor keeps the smallest
``t'`` of its grid whose metric is within ``tol`` of the full model's -- accuracy for class labels (absolute
drop), mean squared error for float targets (relative rise) -- or exactly ``stages``, and returns a new,
smaller network of ``t' * J`` hidden units with the measured report: parameters, bytes, MACs per sample,
latency on the calibration batch and the metric before and after, plus the whole curve in ``details``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Compressor
from forwardkit.interfaces.compressor import CompressionReport, ModelFigures
from forwardkit.measure import count_macs, count_parameters, latency_ms, state_bytes
from forwardkit_gradient_boosting_nn.config import StageTruncationConfig
from forwardkit_gradient_boosting_nn.model import BoostedMLP

__all__ = ["StageTruncation", "stage_grid", "truncate", "truncation_curve"]


def truncate(model: BoostedMLP, n_stages: int) -> BoostedMLP:
    """The first ``n_stages`` stages of ``model`` as a smaller network (outputs ``= model(x, n_stages)``)."""
    return model.truncated(n_stages)


def stage_grid(total: int, grid: str = "all") -> list[int]:
    """The stage counts to try: ``1..T`` (``all``) or ``1, 2, 4, ...`` and ``T`` (``powers_of_two``)."""
    if grid == "all":
        return list(range(1, total + 1))
    out, t = [], 1
    while t < total:
        out.append(t)
        t *= 2
    return [*out, total]


def _is_classification(y: Tensor, outputs: int) -> bool:
    return not y.is_floating_point() and outputs > 1


@torch.no_grad()
def truncation_curve(model: BoostedMLP, x: Tensor, y: Tensor, stages: Iterable[int] | None = None
                     ) -> list[dict[str, float]]:
    """The metric of the first ``t`` stages for every ``t`` in ``stages`` (default ``1..T``) on ``x``, ``y``:
    ``{"stages", "units", "accuracy"}`` for class labels, ``{"stages", "units", "mse"}`` for float targets."""
    was = model.training
    model.eval()
    try:
        outs = model.staged_outputs(x)  # (T + 1, N, K)
    finally:
        model.train(was)
    total = model.num_stages
    rows = []
    for t in stages if stages is not None else range(1, total + 1):
        out = outs[min(int(t), total)]
        row: dict[str, float] = {"stages": int(t), "units": int(t) * model.units_per_stage}
        if _is_classification(y, out.shape[1]):
            row["accuracy"] = float((out.argmax(dim=1) == y.reshape(-1)).float().mean())
        else:
            row["mse"] = float((out - y.reshape(out.shape).to(out)).pow(2).mean())
        rows.append(row)
    return rows


def _gather(data: Iterable[Any] | None) -> tuple[Tensor, Tensor] | None:
    if data is None:
        return None
    xs, ys = [], []
    for batch in data:
        if isinstance(batch, Mapping):
            xs.append(batch["x"])
            ys.append(batch["y"])
        else:
            xs.append(batch[0])
            ys.append(batch[1])
    if not xs:
        return None
    return torch.cat(xs), torch.cat(ys)


def kit_model() -> BoostedMLP:
    """A small boosted model for the conformance kit: 5 stages of 2 units fitted on random data (6 features,
    3 classes)."""
    from forwardkit_gradient_boosting_nn.rule import boost

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(48, 6, generator=g), torch.randint(0, 3, (48,), generator=g)
    model, _ = boost(x, y, stages=5, units_per_stage=2, num_classes=3, stage_max_iter=5, eta=1.0)
    return model


class StageTruncation(Compressor):
    """Keep the first ``t'`` stages of a ``boosted_mlp``: the smallest ``t'`` within ``tol`` of the full model on
    the calibration data, or exactly ``stages``."""

    Config = StageTruncationConfig
    config: StageTruncationConfig
    when = "after_training"

    #: the kit checks it on a small fitted boosted_mlp (the default toy models are not boosted networks)
    conformance_models = (kit_model,)

    def compress(self, model: nn.Module, data: Iterable[Any] | None = None) -> tuple[nn.Module, CompressionReport]:
        if not isinstance(model, BoostedMLP):
            raise ForwardkitError(f"stage_truncation truncates a 'boosted_mlp', got {type(model).__name__}")
        cfg = self.config
        gathered = _gather(data)
        if gathered is None and cfg.stages is None:
            raise ForwardkitError("stage_truncation needs calibration data to choose the stages, or a fixed "
                                  "`stages`")
        total = model.num_stages
        if gathered is None:
            x = model.example_batch(2, generator=torch.Generator().manual_seed(0))["x"]
            y, curve = None, []
        else:
            x, y = gathered
            x = x.to(model.hidden.weight.device)
            y = y.to(x.device)
            curve = truncation_curve(model, x, y, sorted({*stage_grid(total, cfg.grid), total}))
        if cfg.stages is not None:
            keep = min(cfg.stages, total)
        else:
            keep = _smallest_within(curve, cfg.tol)
        small = model.truncated(keep)
        metric = next((k for k in ("accuracy", "mse") if curve and k in curve[0]), None)
        full_row = next((r for r in curve if r["stages"] == total), None)
        kept_row = truncation_curve(small, x, y)[-1] if y is not None else None
        before, after = self._figures(model, x, full_row), self._figures(small, x, kept_row)
        details: dict[str, Any] = {
            "stages_before": total, "stages_after": keep, "units_before": total * model.units_per_stage,
            "units_after": keep * model.units_per_stage, "metric": metric, "tol": cfg.tol, "curve": curve,
            "metric_before": full_row.get(metric) if full_row and metric else None,
            "metric_after": kept_row.get(metric) if kept_row and metric else None,
        }
        return small, CompressionReport(before=before, after=after, details=details)

    def _figures(self, model: BoostedMLP, x: Tensor, row: Mapping[str, float] | None) -> ModelFigures:
        was = model.training
        model.eval()
        try:
            with torch.no_grad():
                ms = latency_ms(lambda: model(x), warmup=1, repeats=self.config.repeats)
                macs = count_macs(lambda: model(x[:1]))
        finally:
            model.train(was)
        accuracy = float(row["accuracy"]) if row is not None and "accuracy" in row else None
        return ModelFigures(parameters=count_parameters(model), bytes=state_bytes(model), macs=macs,
                            latency_ms=ms, accuracy=accuracy)


def _smallest_within(curve: list[dict[str, float]], tol: float) -> int:
    """The fewest stages whose metric is within ``tol`` of the largest count's (accuracy: absolute drop;
    mse: relative rise)."""
    full = curve[-1]
    for row in curve:
        if "accuracy" in row and row["accuracy"] >= full["accuracy"] - tol - 1e-12:
            return int(row["stages"])
        if "mse" in row and row["mse"] <= full["mse"] * (1.0 + tol) + 1e-12:
            return int(row["stages"])
    return int(full["stages"])
