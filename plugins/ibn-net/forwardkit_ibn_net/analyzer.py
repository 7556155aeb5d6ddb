"""FeatureDivergence: how far apart two domains are in each layer's features (Pan et al. 2018, sec. 3.1).

The paper's analysis (sec. 3.1, fig. 2; derivation in its supplementary material): take the mean of
channel ``i`` over the spatial positions of one image, ``F_i``; over the images of domain A it is modelled
as a Gaussian ``N(mu_i^A, sigma_i^A^2)``, likewise for B. The divergence of a layer is the symmetric KL
divergence averaged over its ``C`` channels::

    D(L_A || L_B) = (1/C) sum_i [ KL(F_i^A || F_i^B) + KL(F_i^B || F_i^A) ]
    KL(A || B) = log(sigma_B / sigma_A) + (sigma_A^2 + (mu_A - mu_B)^2) / (2 sigma_B^2) - 1/2

Appearance shifts give large divergence in shallow layers; IN in those layers is meant to reduce it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from forwardkit_datasets.config import STYLES
from torch import Tensor, nn

from forwardkit.data import forward_batch
from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_ibn_net.adapter import _stem_norms, find_stages
from forwardkit_ibn_net.config import FeatureDivergenceConfig

__all__ = ["FeatureDivergence", "channel_means", "default_layers", "symmetric_kl"]


def symmetric_kl(a: Tensor, b: Tensor, eps: float = 1e-6) -> float:
    """Feature divergence (sec. 3.1): ``a`` ``(N_a, C)`` and ``b`` ``(N_b, C)`` per-image channel means of
    two domains; per-channel Gaussians compared by symmetric KL, averaged over the ``C`` channels."""
    a, b = a.double(), b.double()
    mu_a, mu_b = a.mean(0), b.mean(0)
    var_a = a.var(0, unbiased=False).clamp_min(eps)
    var_b = b.var(0, unbiased=False).clamp_min(eps)
    d2 = (mu_a - mu_b).pow(2)
    kl_ab = 0.5 * torch.log(var_b / var_a) + (var_a + d2) / (2 * var_b) - 0.5
    kl_ba = 0.5 * torch.log(var_a / var_b) + (var_b + d2) / (2 * var_a) - 0.5
    return float((kl_ab + kl_ba).mean())


def channel_means(feature: Tensor) -> Tensor:
    """``(B, C, H, W)`` (or ``(B, C)``) -> per-image channel means ``(B, C)``."""
    return feature.flatten(2).mean(-1) if feature.dim() > 2 else feature


def default_layers(model: nn.Module) -> list[str]:
    """The stem norm and every residual stage (their outputs are ``(B, C, H, W)``); a model without
    stages: every ``Conv2d``."""
    stages = find_stages(model)
    if stages:
        stem = [n for n, m in model.named_children() if isinstance(m, nn.InstanceNorm2d)]  # IBN-b's stem IN
        return [p for p, _ in _stem_norms(model, stages[0][0])] + stem + [p for p, _ in stages]
    return [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


class FeatureDivergence(Analyzer):
    """``feature_divergence``: per-layer symmetric-KL divergence of channel-mean statistics between two
    domains. ``data``: a mapping ``{name_a: batches, name_b: batches}``; or batches with a ``domain``
    entry (rows of ``domain_a`` vs ``domain_b``); or any batches (the first half vs the second half).
    With ``render=True`` it renders its own MNIST digits in both styles with forwardkit-datasets'
    ``style_shift_digits`` renderer (28x28 RGB models)."""

    Config = FeatureDivergenceConfig
    config: FeatureDivergenceConfig
    conformance_models = ("toy", {"name": "resnet", "depth": 8, "width": 4, "num_classes": 4},
                          {"name": "resnet_ibn", "variant": "a", "widths": [8, 16], "blocks": 1, "num_classes": 4})

    def _domains(self, model: nn.Module, data: Any) -> tuple[list[dict[str, Tensor]], list[dict[str, Tensor]]]:
        c = self.config
        if c.render:
            from forwardkit_datasets.digits import load_mnist5k_arrays
            from forwardkit_datasets.domain_shift import digit_alpha, render

            images, labels = load_mnist5k_arrays()
            alpha = digit_alpha(images[-c.samples:])
            y = torch.from_numpy(np.array(labels[-c.samples:], dtype=np.int64))
            out = []
            for style in (c.domain_a, c.domain_b):
                x = torch.from_numpy(render(alpha, style, rng=np.random.default_rng([5, STYLES.index(style)])))
                out.append([{"x": x[i: i + 128], "y": y[i: i + 128]} for i in range(0, c.samples, 128)])
            return out[0], out[1]
        if data is None:
            raise ValueError("feature_divergence needs data (two domains) or render=True")
        if isinstance(data, Mapping) and len(data) == 2 and not any(isinstance(v, Tensor) for v in data.values()):
            a, b = (list(v) for v in data.values())
            return a, b
        batches = list(data)
        if batches and all("domain" in bt for bt in batches):
            ia, ib = STYLES.index(c.domain_a), STYLES.index(c.domain_b)
            pick = [[{k: v[bt["domain"] == d] for k, v in bt.items()} for bt in batches] for d in (ia, ib)]
            a, b = ([p for p in side if len(p["domain"])] for side in pick)
            if a and b:
                return a, b
        if len(batches) < 2:
            raise ValueError("feature_divergence needs at least two batches to split into two domains")
        half = len(batches) // 2
        return batches[:half], batches[half:]

    @torch.no_grad()
    def features(
        self, model: nn.Module, batches: Iterable[Mapping[str, Tensor]], layers: list[str]
    ) -> dict[str, Tensor]:
        """Per-image channel means ``(N, C)`` of each layer's output over all ``batches``."""
        modules = dict(model.named_modules())
        missing = [n for n in layers if n not in modules]
        if missing:
            raise ValueError(f"layers {missing} are not modules of {type(model).__name__}")
        store: dict[str, list[Tensor]] = {n: [] for n in layers}
        hooks = [modules[n].register_forward_hook(
            lambda _m, _i, out, name=n: store[name].append(channel_means(out).float().cpu())) for n in layers]
        device = next(model.parameters()).device
        try:
            for batch in batches:
                forward_batch(model, {k: v.to(device) for k, v in batch.items()})
        finally:
            for h in hooks:
                h.remove()
        return {n: torch.cat(v) for n, v in store.items() if v}

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        c = self.config
        layers = list(c.layers) if c.layers is not None else default_layers(model)
        if not layers:
            raise ValueError(f"feature_divergence found no layer to compare in {type(model).__name__}; set layers")
        was = model.training
        model.eval()
        try:
            a_batches, b_batches = self._domains(model, data)
            fa = self.features(model, a_batches, layers)
            fb = self.features(model, b_batches, layers)
        finally:
            model.train(was)
        rows, numbers = [], {}
        for n in layers:
            if n in fa and n in fb:
                d = symmetric_kl(fa[n], fb[n], c.eps)
                numbers[n] = d
                rows.append({"layer": n, "channels": int(fa[n].shape[1]), "divergence": d,
                             "samples_a": int(fa[n].shape[0]), "samples_b": int(fb[n].shape[0])})
        if numbers:
            numbers["mean"] = float(np.mean(list(numbers.values())))
        return Analysis(numbers=numbers, tables={"divergence": rows})
