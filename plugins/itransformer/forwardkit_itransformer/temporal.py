"""The vanilla (time-as-token) Transformer forecaster iTransformer is compared with (paper Fig. 2 top)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Model
from forwardkit_itransformer.common import example_windows, forecaster_fields, select_targets
from forwardkit_itransformer.config import TemporalTokenForecasterConfig
from forwardkit_itransformer.encoder import Encoder, sinusoidal_positions
from forwardkit_itransformer.norm import denormalize, normalize

__all__ = ["TemporalTokenForecaster"]


class TemporalTokenForecaster(Model):
    """Temporal-token Transformer on ``x`` ``(B, T, N)`` -> ``(B, S, N)``.

    Each time step is a token: Linear(N -> D) of the N simultaneous values plus a sinusoidal position
    ``(T, D)``; the same encoder as :class:`~forwardkit_itransformer.inverted.InvertedForecaster`
    (attention across time steps); flatten ``(B, T * D)`` -> Linear -> ``(B, S, N)``. Uses the same
    optional per-variate normalisation, so the two models differ only in what a token is.
    Encoder-only (the paper's baseline is the encoder-decoder of Time-Series-Library).
    """

    Config = TemporalTokenForecasterConfig
    config: TemporalTokenForecasterConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.embed = nn.Linear(cfg.num_variates, cfg.d_model)
        self.register_buffer("positions", sinusoidal_positions(cfg.lookback, cfg.d_model), persistent=False)
        self.embed_drop = nn.Dropout(cfg.dropout)
        # a causal mixer is allowed over time (it only sees the past), but the default is bidirectional
        self.encoder = Encoder(cfg, forbid_causal=False, require_pointwise=False, owner="the temporal Transformer")
        self.head = nn.Linear(cfg.lookback * cfg.d_model, cfg.horizon * cfg.num_variates)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        return forecaster_fields(cls.Config, metadata)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, T, N)`` with the configured T and N -> ``(B, S, N)`` (or the ``targets``)."""
        cfg = self.config
        if x.dim() != 3 or x.shape[1:] != (cfg.lookback, cfg.num_variates):
            raise ForwardkitError(f"the temporal-token Transformer expects x of shape (B, {cfg.lookback}, "
                                  f"{cfg.num_variates}) (its weights are sized by N), got {tuple(x.shape)}")
        mu = sigma = None
        if cfg.use_norm:
            x, mu, sigma = normalize(x)
        h = self.embed_drop(self.embed(x) + self.positions)  # (B, T, D)
        h = self.encoder(h)
        y = self.head(h.flatten(1)).reshape(x.shape[0], cfg.horizon, cfg.num_variates)
        if mu is not None and sigma is not None:
            y = denormalize(y, mu, sigma)
        return select_targets(y, cfg.targets)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        cfg = self.config
        return example_windows(cfg.lookback, cfg.horizon, cfg.num_variates, cfg.targets, batch_size, generator)
