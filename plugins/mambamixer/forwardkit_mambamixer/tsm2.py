"""TSM2, Time Series MambaMixer (paper §5, Fig. 4): forecasting with dual selection over time and variates.

``x`` ``(B, L, M)`` -> forecast ``(B, H, M)``:

1. RevIN per window and variate (the replication's choice; the paper does not say);
2. every variate cut into n = (L - P) // S + 1 patches of P steps, ``Linear(P -> D)`` plus a learned position
   embedding (the replication's choice): tokens ``(B, M, n, D)``;
3. ``num_layers`` MambaMixer layers (:class:`~forwardkit_mambamixer.weighted_averaging.WeightedAveragingStack`):
   a causal Selective Time Mixer along the n patches of each variate (one forward scan, causal 1-D conv,
   §5.1 "unidirectional ... due to the causal nature of time") and a bidirectional Selective Variate Mixer
   along the M variates of each patch, joined by weighted averaging (eqs. 19-20);
4. the "2-D normalisation on time and feature dimensions": LayerNorm over D, then over the n patches;
5. a flatten head ``Linear(n D -> H)`` shared by the variates, de-normalised.

Ablations (paper §6.6 and the card's baselines): ``variate_mixer='mlp'`` (a 2-layer MLP across the M variates;
with ``weighted_avg=False`` the paper's TSM2-MLP), ``variate_mixer='none'`` (channel-independent),
``weighted_avg=False`` (the plain residual stack).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Model
from forwardkit_mambamixer.config import TSM2Config, WeightedAveragingConfig
from forwardkit_mambamixer.forecasting import (
    EXAMPLE_VARIATES,
    example_windows,
    forecaster_fields,
    revin_denormalize,
    revin_normalize,
    select_targets,
)
from forwardkit_mambamixer.token_mixer import SelectiveTokenMixer
from forwardkit_mambamixer.variate_mixer import SelectiveVariateMixer
from forwardkit_mambamixer.weighted_averaging import WeightedAveragingStack

__all__ = ["TSM2", "Norm2D", "PatchEmbedding", "PerVariate", "VariateMLP", "patchify"]


def patchify(x: Tensor, patch_len: int, stride: int) -> Tensor:
    """``(B, L, M)`` -> ``(B, M, n, P)``: the patches of every variate, n = (L - P) // S + 1."""
    return x.transpose(1, 2).unfold(-1, patch_len, stride)


class PatchEmbedding(nn.Module):
    """``(B, L, M)`` -> ``(B, M, n, D)``: patches, ``Linear(P -> D)``, learned position embedding, dropout."""

    def __init__(self, *, patch_len: int, stride: int, num_patches: int, d_model: int, dropout: float) -> None:
        super().__init__()
        self.patch_len, self.stride = patch_len, stride
        self.proj = nn.Linear(patch_len, d_model)
        self.position = nn.Parameter(torch.randn(num_patches, d_model) * 0.02)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.proj(patchify(x, self.patch_len, self.stride)) + self.position)


class PerVariate(nn.Module):
    """Runs a sequence mixer ``(B', n, D) -> (B', n, D)`` on the patches of each variate of ``(B, M, n, D)``."""

    def __init__(self, mixer: nn.Module) -> None:
        super().__init__()
        self.mixer = mixer

    def forward(self, x: Tensor) -> Tensor:
        return self.mixer(x.reshape(-1, *x.shape[-2:])).reshape(x.shape)


class VariateMLP(nn.Module):
    """TSM2-MLP's variate mixer: ``Linear(M -> h) GELU Linear(h -> M)`` across the variates of ``(B, M, n, D)``
    for every patch and feature (M-shaped weights: the number of variates is fixed)."""

    def __init__(self, *, num_variates: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.num_variates = num_variates
        self.net = nn.Sequential(nn.Linear(num_variates, hidden), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, num_variates))

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] != self.num_variates:
            raise ForwardkitError(f"the mlp variate mixer was built for M={self.num_variates} variates, got "
                                  f"{x.shape[1]}")
        return self.net(x.movedim(1, -1)).movedim(-1, 1)


class Norm2D(nn.Module):
    """The "2-D normalisation on time and feature dimensions" (§5.1) of ``(B, M, n, D)``: LayerNorm over D,
    then over the n patches (the replication's reading; the paper does not define it)."""

    def __init__(self, *, num_patches: int, d_model: int) -> None:
        super().__init__()
        self.feature = nn.LayerNorm(d_model)
        self.time = nn.LayerNorm(num_patches)

    def forward(self, x: Tensor) -> Tensor:
        return self.time(self.feature(x).transpose(-1, -2)).transpose(-1, -2)


class TSM2(Model):
    """TSM2 forecaster (module docstring): ``x`` ``(B, lookback, M)`` -> ``(B, horizon, M)``; any M unless
    ``variate_mixer='mlp'``."""

    Config = TSM2Config
    config: TSM2Config
    conformance_configs = (
        {"lookback": 16, "horizon": 4, "patch_len": 4, "stride": 4, "d_model": 8, "d_state": 4},
        {"lookback": 16, "horizon": 4, "patch_len": 4, "stride": 2, "d_model": 8, "d_state": 4,
         "variate_mixer": "mlp", "weighted_avg": False, "num_variates": EXAMPLE_VARIATES},
        {"lookback": 12, "horizon": 3, "patch_len": 6, "stride": 3, "d_model": 8, "d_state": 4,
         "variate_mixer": "none", "init": "uniform", "normalize": "softmax"},
    )

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        c = self.config
        if c.variate_mixer == "mlp" and c.num_variates is None:
            raise ValueError("variate_mixer='mlp' has M-shaped weights: set num_variates (filled from the data)")
        n = c.num_patches
        self.embed = PatchEmbedding(patch_len=c.patch_len, stride=c.stride, num_patches=n, d_model=c.d_model,
                                    dropout=c.dropout)
        stack = WeightedAveragingConfig(num_layers=c.num_layers, weighted=c.weighted_avg, init=c.init,
                                        normalize=c.normalize, drop=c.dropout, norm_eps=1e-5)
        layers = range(c.num_layers)
        self.mixer = WeightedAveragingStack(config=stack, token_mixers=[self._time_mixer() for _ in layers],
                                            channel_mixers=[self._variate_mixer() for _ in layers], dim=c.d_model)
        self.norm = Norm2D(num_patches=n, d_model=c.d_model)
        self.head_drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(n * c.d_model, c.horizon)

    def _s6_fields(self) -> dict[str, Any]:
        c = self.config
        return {"dim": c.d_model, "d_state": c.d_state, "d_conv": c.d_conv, "expand": c.expand,
                "scan_mode": c.scan_mode, "chunk": c.chunk}

    def _time_mixer(self) -> nn.Module:
        return PerVariate(SelectiveTokenMixer(spatial_rank=1, causal=True, **self._s6_fields()))

    def _variate_mixer(self) -> nn.Module | None:
        c = self.config
        if c.variate_mixer == "s6_bidir":
            return SelectiveVariateMixer(axis=0, **self._s6_fields())
        if c.variate_mixer == "mlp":
            assert c.num_variates is not None
            return VariateMLP(num_variates=c.num_variates, hidden=max(1, math.ceil(c.mlp_ratio * c.num_variates)),
                              dropout=c.dropout)
        return None

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        return forecaster_fields(cls.Config, metadata)

    def forward(self, x: Tensor) -> Tensor:
        c = self.config
        if x.dim() != 3 or x.shape[1] != c.lookback:
            raise ForwardkitError(f"tsm2 expects x of shape (B, {c.lookback}, M), got {tuple(x.shape)}")
        mu = sigma = None
        if c.revin:
            x, mu, sigma = revin_normalize(x)
        h = self.norm(self.mixer(self.embed(x)))  # (B, M, n, D)
        y = self.head(self.head_drop(h.flatten(-2))).transpose(1, 2)  # (B, H, M)
        if mu is not None and sigma is not None:
            y = revin_denormalize(y, mu, sigma)
        return select_targets(y, c.targets)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        c = self.config
        return example_windows(c.lookback, c.horizon, c.num_variates or EXAMPLE_VARIATES, c.targets, batch_size,
                               generator)
