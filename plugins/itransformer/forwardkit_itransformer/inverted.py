"""iTransformer (paper §3, Fig. 4): variates as tokens, attention across variates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Model
from forwardkit_itransformer.common import EXAMPLE_VARIATES, example_windows, forecaster_fields, select_targets
from forwardkit_itransformer.config import InvertedForecasterConfig
from forwardkit_itransformer.encoder import Encoder
from forwardkit_itransformer.norm import denormalize, normalize

__all__ = ["InvertedForecaster", "invert_embed"]


def invert_embed(x: Tensor, weight: Tensor, bias: Tensor | None, x_mark: Tensor | None = None) -> Tensor:
    """Inverted embedding (paper eq. 1, ``h_n^0 = Embedding(X_{:,n})``): ``x`` ``(B, T, N)`` and optional
    covariates ``x_mark`` ``(B, T, K)`` become ``N (+K)`` tokens ``(B, N+K, D)``, each the linear map
    ``weight`` ``(D, T)`` of one variate's whole lookback series. No positional term across variates."""
    series = x if x_mark is None else torch.cat([x, x_mark.to(x.dtype)], dim=-1)
    return nn.functional.linear(series.transpose(1, 2), weight, bias)


class InvertedForecaster(Model):
    """iTransformer on windows ``x`` ``(B, T, N)`` -> forecast ``(B, S, N)`` (paper eq. 1-2):

    normalise each variate over time (§3.1); embed each variate's series as one token (Linear T -> D,
    eq. 1); ``num_layers`` encoder layers with attention across variate tokens and a shared FFN per
    token (eq. 2); final LayerNorm; Linear(D -> S) per token (eq. 1, ``Projection``); keep the N data
    variates (covariate tokens are dropped); de-normalise. No weight depends on N, so a model trained
    on N variates runs on any number of variates, and the output is permutation-equivariant in them.
    """

    Config = InvertedForecasterConfig
    config: InvertedForecasterConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.embed = nn.Linear(cfg.lookback, cfg.d_model)
        self.embed_drop = nn.Dropout(cfg.dropout)
        self.encoder = Encoder(cfg, forbid_causal=True, require_pointwise=True, owner="iTransformer")
        self.project = nn.Linear(cfg.d_model, cfg.horizon)

    @classmethod
    def fields_from_metadata(cls, metadata: Any) -> dict[str, Any]:
        return forecaster_fields(cls.Config, metadata)

    def _check(self, x: Tensor, x_mark: Tensor | None) -> None:
        if x.dim() != 3 or x.shape[1] != self.config.lookback:
            raise ForwardkitError(f"iTransformer expects x of shape (B, lookback={self.config.lookback}, N), "
                                  f"got {tuple(x.shape)}")
        if x_mark is not None and (x_mark.dim() != 3 or x_mark.shape[:2] != x.shape[:2]):
            raise ForwardkitError(f"x_mark must be (B, T, K) with the B, T of x {tuple(x.shape)}, "
                                  f"got {tuple(x_mark.shape)}")

    def tokens(self, x: Tensor, x_mark: Tensor | None = None) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Normalised, embedded tokens ``(B, N+K, D)`` and the statistics ``mu, sigma`` ``(B, 1, N)``."""
        self._check(x, x_mark)
        mu = sigma = None
        if self.config.use_norm:
            x, mu, sigma = normalize(x)
        h = invert_embed(x, self.embed.weight, self.embed.bias, x_mark if self.config.use_covariates else None)
        return self.embed_drop(h), mu, sigma

    def forward(self, x: Tensor, x_mark: Tensor | None = None) -> Tensor:
        """``x`` ``(B, T, N)``, ``x_mark`` ``(B, T, K)`` or None -> ``(B, S, N)`` (or the ``targets``)."""
        n = x.shape[-1]
        h, mu, sigma = self.tokens(x, x_mark)
        h = self.encoder(h)  # (B, N+K, D)
        y = self.project(h).transpose(1, 2)[:, :, :n]  # (B, S, N): covariate tokens dropped
        if mu is not None and sigma is not None:
            y = denormalize(y, mu, sigma)
        return select_targets(y, self.config.targets)

    def forward_batch(self, batch: Mapping[str, Tensor]) -> Tensor:
        x_mark = batch.get("x_mark") if self.config.use_covariates else None
        if self.config.use_covariates and x_mark is None:
            raise ForwardkitError("use_covariates=True but the batch has no 'x_mark' (B, T, K) time features")
        return self(batch["x"], x_mark)

    @torch.no_grad()
    def variate_scores(self, x: Tensor, x_mark: Tensor | None = None) -> list[Tensor]:
        """Per-layer pre-softmax scores ``q k^T / sqrt(d_head)`` across variate tokens: a list of
        ``num_layers`` tensors ``(B, heads, N+K, N+K)`` (paper §4.3, App. E.1), from each layer's token mixer's
        ``attention_scores`` (the builtin 'attention' has it; other mixers raise ForwardkitError)."""
        h, _, _ = self.tokens(x, x_mark if self.config.use_covariates else None)
        return self.encoder.scores(h)

    @torch.no_grad()
    def variate_attention(self, x: Tensor, x_mark: Tensor | None = None) -> list[Tensor]:
        """Per-layer attention maps across variates, ``(B, heads, N+K, N+K)``, rows summing to 1:
        entry ``[b, h, i, j]`` is how much variate token ``i`` reads from variate token ``j``."""
        return [s.softmax(dim=-1) for s in self.variate_scores(x, x_mark)]

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        cfg = self.config
        batch = example_windows(cfg.lookback, cfg.horizon, EXAMPLE_VARIATES, cfg.targets, batch_size, generator)
        if cfg.use_covariates:
            batch["x_mark"] = torch.randn(batch_size, cfg.lookback, 2, generator=generator)
        return batch
