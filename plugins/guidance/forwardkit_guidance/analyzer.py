"""Analyzers: representational similarity between two networks' layers (linear CKA, RSA) and the tap list.

``linear_cka`` / ``rsa``: the given batches (up to ``max_samples`` samples, concatenated, so one similarity
sees them all) go through the analysed model and through the reference network (built like a guide, from its
seed, optionally trained: the same network the guidance rule would use), or through the model alone when there
is no reference. Reported:

* numbers: ``mapped_mean`` (mean similarity over the pairs guidance would align: uniform_round, ``dedupe``),
  ``t<j>_g<i>`` for each such pair (target tap j, reference tap i, 0-based), ``diagonal_mean`` (the model
  against itself: mean of the first off-diagonal), ``layers_model`` / ``layers_reference`` (S and G);
* tables: ``similarity`` (one row per model tap, a column per reference tap), ``pairs`` (the mapped pairs by
  name); an optional heatmap figure.

``layer_taps`` lists what :class:`~forwardkit_guidance.taps.LayerTaps` finds on the first batch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from forwardkit.data import example_batch, forward_batch
from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_guidance.config import LayerTapsAnalyzerConfig, SimilarityConfig
from forwardkit_guidance.guide import build_guide
from forwardkit_guidance.mapping import map_pairs
from forwardkit_guidance.similarity import similarity_table
from forwardkit_guidance.taps import LayerTaps, extract_taps

__all__ = ["LayerTapsAnalyzer", "LinearCKAAnalyzer", "RSAAnalyzer", "SimilarityAnalyzer"]


def _device(model: nn.Module) -> torch.device:
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


class SimilarityAnalyzer(Analyzer):
    """Layer x layer similarity of a model to a reference network (see the module doc); ``metric`` is set by the
    registered subclass."""

    Config = SimilarityConfig
    config: SimilarityConfig
    metric: ClassVar[Literal["cka", "rsa"]] = "cka"
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {},
        {"reference": {"model": {"name": "guidance_cnn", "in_channels": 3, "num_classes": 4, "widths": [4, 4, 4],
                                 "pool_size": 2}, "seed": 1}, "figure": True},
    )

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        cfg = self.config
        device = _device(model)
        batch = example_batch(data, model, batch_size=cfg.max_samples, device=device)
        was = model.training
        model.eval()
        try:
            mine = extract_taps(model, batch, cfg.taps)
        finally:
            model.train(was)
        if cfg.reference is not None:
            reference, _ = build_guide(cfg.reference, device)
            theirs = extract_taps(reference, batch, cfg.reference_taps)
        else:
            theirs = mine
        if not mine or not theirs:
            raise ValueError(f"no taps found (model: {len(mine)}, reference: {len(theirs)}); check module_types")
        with torch.no_grad():
            table = similarity_table(mine, theirs, self.metric).double()
        names_m, names_r = list(mine), list(theirs)
        numbers: dict[str, float] = {"layers_model": float(len(names_m)), "layers_reference": float(len(names_r)),
                                     "samples": float(next(iter(batch.values())).shape[0])}
        rows = [{"tap": n, **{r: float(table[i, j]) for j, r in enumerate(names_r)}} for i, n in enumerate(names_m)]
        pair_rows: list[dict[str, Any]] = []
        if cfg.reference is not None:
            pairs = map_pairs(names_r, names_m, dedupe=cfg.dedupe)
            values = []
            for g, t in pairs:
                i, j = names_m.index(t), names_r.index(g)
                value = float(table[i, j])
                numbers[f"t{i}_g{j}"] = value
                values.append(value)
                pair_rows.append({"reference_tap": g, "model_tap": t, "similarity": value})
            numbers["mapped_mean"] = sum(values) / len(values)
        else:
            off = [float(table[i, i + 1]) for i in range(len(names_m) - 1)]
            numbers["neighbour_mean"] = sum(off) / len(off) if off else 1.0
        bad = [k for k, v in numbers.items() if not math.isfinite(v)]
        if bad:
            raise ValueError(f"non-finite similarities {bad}")
        figures = {"similarity": self._figure(table, names_m, names_r)} if cfg.figure else {}
        return Analysis(numbers=numbers, tables={"similarity": rows, "pairs": pair_rows}, figures=figures)

    def _figure(self, table: Tensor, rows: list[str], cols: list[str]) -> Any:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(1.2 + 0.5 * len(cols), 1.0 + 0.4 * len(rows)))
        image = ax.imshow(table.numpy(), vmin=0.0 if self.metric == "cka" else -1.0, vmax=1.0, cmap="viridis")
        ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        ax.set_xlabel("reference tap")
        ax.set_ylabel("model tap")
        ax.set_title("linear CKA" if self.metric == "cka" else "RSA")
        fig.colorbar(image, ax=ax)
        return fig


class LinearCKAAnalyzer(SimilarityAnalyzer):
    """Linear CKA between the layers of a model and of a reference network (or of itself)."""

    metric = "cka"


class RSAAnalyzer(SimilarityAnalyzer):
    """Differentiable RSA between the layers of a model and of a reference network (or of itself)."""

    metric = "rsa"


class LayerTapsAnalyzer(Analyzer):
    """The taps of a model on the first batch: ``taps`` table (name, module type, shape, features) and numbers
    ``layers`` (how many) and ``features`` (their total)."""

    Config = LayerTapsAnalyzerConfig
    config: LayerTapsAnalyzerConfig

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        batch = example_batch(data, model, device=_device(model))
        size = int(next(iter(batch.values())).shape[0])
        taps = LayerTaps(model, self.config)
        was = model.training
        model.eval()
        try:
            with taps, torch.no_grad():
                forward_batch(model, batch)
        finally:
            model.train(was)
        kinds = {label: kind for label, kind, _ in taps.raw()}
        kept = taps.outputs(size)
        features = [int(t[0].numel()) for t in kept.values()]
        rows: list[dict[str, Any]] = [{"tap": name, "module": kinds[name], "shape": "x".join(map(str, t.shape[1:])),
                                       "features": n} for (name, t), n in zip(kept.items(), features, strict=True)]
        return Analysis(numbers={"layers": float(len(rows)), "features": float(sum(features))},
                        tables={"taps": rows})
