"""How much does each mixer read from early features? The weighted-averaging coefficients (paper eqs. 19-20).

For every :class:`~forwardkit_mambamixer.weighted_averaging.WeightedAveragingStack` of a model (TSM2 has one,
ViM2 one per stage) the analyzer lists alpha, beta, theta, gamma of every layer and reports the *share on early
features*: the fraction of the absolute coefficient mass that is not on the plain sequential chain (the chain
is ``beta[l, l-1]`` for a token mixer's input, the previous layer's output, and ``theta[l, l]`` for a channel
mixer's input, this layer's token output). 0 at the identity initialisation; the paper's claim is that
training learns to use the early features (its "direct access to early features").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_mambamixer.config import MixingWeightsConfig
from forwardkit_mambamixer.weighted_averaging import WeightedAveragingStack

__all__ = ["MixingWeightsAnalyzer", "coefficient_rows", "early_share", "input_matrices"]

#: (target input, families in source order, the chain entry as (family, offset from the layer index))
TARGETS = {"token": (("alpha", "beta"), ("beta", -1)), "channel": (("theta", "gamma"), ("theta", 0))}


def coefficient_rows(stack: WeightedAveragingStack, name: str) -> list[dict[str, Any]]:
    """One row per coefficient: stack, layer (1-based), target input, family, source index, value, chain."""
    rows: list[dict[str, Any]] = []
    for layer in range(1, stack.config.num_layers + 1):
        coefs = stack.coefficients(layer)
        for target, (families, (chain_family, offset)) in TARGETS.items():
            for family in families:
                for i, value in enumerate(coefs[family].detach().cpu().tolist()):
                    rows.append({"stack": name, "layer": layer, "target": target, "family": family, "source": i,
                                 "value": float(value), "chain": family == chain_family and i == layer + offset})
    return rows


def early_share(rows: list[dict[str, Any]]) -> float:
    """``sum |w|`` off the sequential chain / ``sum |w|`` (0 when every weight is 0)."""
    total = sum(abs(r["value"]) for r in rows)
    off = sum(abs(r["value"]) for r in rows if not r["chain"])
    return off / total if total > 0 else 0.0


def input_matrices(stack: WeightedAveragingStack) -> dict[str, torch.Tensor]:
    """``{target: (L, 2L + 1)}`` coefficient matrices, rows the layers, columns the sources
    ``y_T^(0..L), y_C^(0..L-1)`` (NaN where a layer has no such source)."""
    n = stack.config.num_layers
    out = {t: torch.full((n, 2 * n + 1), float("nan")) for t in TARGETS}
    for layer in range(1, n + 1):
        c = {k: v.detach().cpu() for k, v in stack.coefficients(layer).items()}
        out["token"][layer - 1, : layer] = c["alpha"]
        out["token"][layer - 1, n + 1 : n + 1 + layer] = c["beta"]
        out["channel"][layer - 1, : layer + 1] = c["theta"]
        out["channel"][layer - 1, n + 1 : n + 1 + layer] = c["gamma"]
    return out


class MixingWeightsAnalyzer(Analyzer):
    """Coefficients of every weighted-averaging stack of a model, and their share on early features (module
    docstring): numbers ``<stack>/early_share``, ``<stack>/token/early_share``, ``<stack>/channel/early_share``,
    ``early_share`` (all stacks), ``coefficients`` per stack; table ``coefficients``; figures when asked."""

    Config = MixingWeightsConfig
    config: MixingWeightsConfig
    conformance_models = (
        {"name": "tsm2", "lookback": 16, "horizon": 4, "patch_len": 4, "stride": 4, "d_model": 8, "d_state": 4,
         "num_layers": 3},
        {"name": "vim2_tiny", "image_size": 8, "dims": [8, 8], "token_depths": [2, 1], "channel_depths": [1, 1],
         "d_state": 4, "init": "uniform"},
    )

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        stacks = [(name or "stack", m) for name, m in model.named_modules()
                  if isinstance(m, WeightedAveragingStack) and m.config.weighted]
        if not stacks:
            raise ForwardkitError(f"mixing_weights reads weighted-averaging stacks (TSM2, ViM2 with weighted "
                                  f"averaging); {type(model).__name__} has none")
        numbers: dict[str, float] = {}
        table: list[dict[str, Any]] = []
        for name, stack in stacks:
            rows = coefficient_rows(stack, name)
            table += rows
            numbers[f"{name}/early_share"] = early_share(rows)
            for target in TARGETS:
                numbers[f"{name}/{target}/early_share"] = early_share([r for r in rows if r["target"] == target])
            numbers[f"{name}/coefficients"] = float(len(rows))
        numbers["early_share"] = early_share(table)
        analysis = Analysis(numbers=numbers, tables={"coefficients": table})
        if self.config.figure:
            analysis.figures.update({f"{name}_weights".replace(".", "_"): _figure(name, stack)
                                     for name, stack in stacks})
        return analysis


def _figure(name: str, stack: WeightedAveragingStack) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mats = input_matrices(stack)
    n = stack.config.num_layers
    labels = [f"yT{i}" for i in range(n + 1)] + [f"yC{i}" for i in range(n)]
    fig, axes = plt.subplots(1, 2, figsize=(0.5 * len(labels) * 2 + 2, 0.5 * n + 1.5))
    for ax, (target, mat) in zip(axes, mats.items(), strict=True):
        im = ax.imshow(mat.numpy(), cmap="coolwarm", vmin=-1, vmax=1)
        ax.set_title(f"{name}: {target} mixer inputs", fontsize=9)
        ax.set_xticks(range(len(labels)), labels, fontsize=7)
        ax.set_yticks(range(n), [f"l={i + 1}" for i in range(n)], fontsize=7)
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig
