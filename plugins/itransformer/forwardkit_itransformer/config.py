"""Configs of the itransformer components (torch-free: discovery, ``forwardkit show`` and validation import it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from forwardkit.config import ChannelMixerSpec, ComponentConfig, TokenMixerSpec
from forwardkit.data import SplitConfig

Activation = Literal["gelu", "relu"]


class _EncoderFields(ComponentConfig):
    """The Transformer encoder both forecasters share (paper §3.2, official ``Transformer_EncDec``)."""

    lookback: int = Field(96, ge=2, description="input steps T of the window (x is (B, T, N))")
    horizon: int = Field(24, ge=1, description="forecast steps S (the output is (B, S, N))")
    d_model: int = Field(128, ge=1, description="token width D")
    num_layers: int = Field(2, ge=1, description="encoder layers (e_layers)")
    num_heads: int = Field(8, ge=1, description="attention heads, given to the token mixer when it has num_heads")
    d_ff: int = Field(128, ge=1, description="hidden width of the FFN, given to the channel mixer as hidden_dim")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout of embedding, attention and residual branches")
    activation: Activation = Field("gelu", description="FFN activation (run.py default: gelu)")
    norm_style: Literal["post", "pre"] = Field(
        "post", description="post: H <- LN(H + f(H)) as the paper and official code; pre: H <- H + f(LN(H))")
    use_norm: bool = Field(True, description="per-window, per-variate normalisation and de-normalisation (§3.1)")
    token_mixer: TokenMixerSpec = Field(
        default_factory=lambda: TokenMixerSpec.parse("attention"),
        description="mixer across tokens, any registered non-causal mixer of sequences (rank 1); its num_heads, "
                    "head_dim and attn_drop come from num_heads, d_model / num_heads and dropout")
    channel_mixer: ChannelMixerSpec = Field(
        default_factory=lambda: ChannelMixerSpec.parse("mlp"),
        description="per-token FFN, a pointwise channel mixer; its hidden_dim, act and drop come from d_ff, "
                    "activation and dropout")
    targets: list[int] | None = Field(
        None, description="indices of the variates forecast (None: all); filled from the dataset's target_index")

    def mixer_settings(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The fields the encoder sets on its token mixer and on its channel mixer (when they have them)."""
        token = {"num_heads": self.num_heads, "head_dim": max(self.d_model // self.num_heads, 1),
                 "attn_drop": self.dropout}
        channel = {"hidden_dim": self.d_ff, "act": self.activation, "drop": self.dropout}
        return token, channel

    @model_validator(mode="after")
    def _check_mixers(self) -> _EncoderFields:
        for spec, settings in zip((self.token_mixer, self.channel_mixer), self.mixer_settings(), strict=True):
            fields = type(spec.config).model_fields
            for key, value in settings.items():
                mine = getattr(spec.config, key, None)
                if key in fields and mine != fields[key].default and mine != value:
                    raise ValueError(
                        f"{spec.kind} {spec.name!r} sets {key}={mine!r}, but the forecaster sets it to {value!r} "
                        "from its own fields (num_heads, d_model, d_ff, activation, dropout): set those instead")
        if bool(getattr(self.token_mixer.config, "causal", False)):
            raise ValueError(
                f"token_mixer {self.token_mixer.name!r} is configured causal=True; the encoder attends in both "
                "directions (mask_flag=False in the official code), so use a non-causal mixer")
        if self.targets is not None and (not self.targets or min(self.targets) < 0
                                         or len(set(self.targets)) != len(self.targets)):
            raise ValueError(f"targets must be distinct non-negative variate indices, got {self.targets}")
        return self


class InvertedForecasterConfig(_EncoderFields):
    """iTransformer: one token per variate (Linear(T -> D) of its whole lookback), attention across
    variates, shared FFN per variate token, Linear(D -> S) per token (paper §3, eq. 1-2)."""

    use_covariates: bool = Field(
        False, description="append the batch's 'x_mark' (B, T, K) time features as K extra tokens (dropped at output)")


class TemporalTokenForecasterConfig(_EncoderFields):
    """The vanilla (time-as-token) Transformer baseline: one token per time step (Linear(N -> D) plus
    sinusoidal positions), the same encoder, then flatten (T * D) -> Linear -> S * N."""

    num_variates: int = Field(7, ge=1, description="N, the variates of x (filled from the data; N-shaped weights)")


class LinearBaselineConfig(ComponentConfig):
    """RLinear-style baseline: one Linear(T -> S) shared by every variate, on normalised windows."""

    lookback: int = Field(96, ge=1, description="input steps T")
    horizon: int = Field(24, ge=1, description="forecast steps S")
    use_norm: bool = Field(True, description="per-window, per-variate normalisation and de-normalisation")
    targets: list[int] | None = Field(None, description="indices of the variates forecast (None: all)")


class LaggedMultivariateConfig(SplitConfig):
    """Synthetic multivariate series with time-lagged shared drivers (spec card; paper §1 motivation).

    ``num_drivers`` latent drivers, each a sum of two sinusoids (periods 12-96 steps) plus AR(1) noise;
    variate n is ``gain_n * driver_{d(n)}(t - lag_n) + noise * eps``. Chronological train | val | test
    segments, z-scored with train statistics, windows of ``lookback + horizon`` inside each segment.
    """

    num_variates: int = Field(16, ge=1, description="driven variates N")
    num_drivers: int = Field(4, ge=1, description="latent drivers K shared by the variates")
    distractors: int = Field(0, ge=0, description="extra variates of pure AR(1) noise (unrelated to the drivers)")
    length: int = Field(4000, ge=16, description="time steps of the whole series")
    max_lag: int = Field(24, ge=0, description="lags tau_n are drawn from [0, max_lag]")
    noise: float = Field(0.3, ge=0.0, description="std of the observation noise of each variate")
    lookback: int = Field(96, ge=1, description="input steps per window")
    horizon: int = Field(24, ge=1, description="target steps per window")
    stride: int = Field(1, ge=1, description="steps between consecutive window starts")
    covariates: bool = Field(False, description="also yield 'x_mark' (T, 4): sin/cos time features of periods 24, 96")
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="share of the time steps in 'val'")
    test_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="share of the time steps in 'test'")
    seed: int = Field(0, ge=0, description="seed of the generated series")


class PartialVariateConfig(ComponentConfig):
    """Efficient training (paper §4.3, Fig. 8): each training batch keeps one random subset of variates."""

    fraction: float = Field(0.2, gt=0.0, le=1.0, description="share of the variates kept per batch")
    min_variates: int = Field(1, ge=1, description="keep at least this many variates")
    seed: int = Field(0, ge=0, description="seed of the subset generator (its state is checkpointed)")


class VariateAttentionConfig(ComponentConfig):
    """Compare each layer's variate score map with the Pearson correlation of the lookback and of the
    future windows (paper §4.3, App. E.1)."""

    pre_softmax: bool = Field(True, description="use the scores q k^T / sqrt(d) (True) or the softmax maps")
    max_samples: int = Field(64, ge=1, description="samples (over all batches) the analysis uses")
    figure: bool = Field(False, description="also draw the first sample's maps and correlations")


class HorizonForecastingConfig(ComponentConfig):
    """Forecasting with MSE loss; reports MSE and MAE overall and at every horizon step."""

    per_step: bool = Field(True, description="report mse@step<k> and mae@step<k> for every step k = 1..S")
    horizons: list[int] = Field(
        default_factory=list, description="also report mse@h<h>/mae@h<h>: the mean over the first h steps")

    @model_validator(mode="after")
    def _check(self) -> HorizonForecastingConfig:
        if any(h < 1 for h in self.horizons):
            raise ValueError(f"horizons must be >= 1, got {self.horizons}")
        return self
