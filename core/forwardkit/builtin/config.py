"""Configs of the builtin components (torch-free, so ``forwardkit show`` and ``schema`` stay light)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from forwardkit.config import (
    ChannelMixerConfig,
    ChannelMixerSpec,
    ComponentConfig,
    TokenMixerConfig,
    TokenMixerSpec,
)
from forwardkit.data.config import SplitConfig

__all__ = [
    "Activation",
    "AttentionConfig",
    "BlobsConfig",
    "IdentityConfig",
    "MLPConfig",
    "MLPNetConfig",
    "MetaFormerConfig",
    "Norm",
    "ResNetConfig",
    "SequenceConfig",
    "SplitConfig",
]

# the names of forwardkit.nn.ACTIVATIONS and forwardkit.nn.NORMS (kept equal by tests/nn)
Activation = Literal["gelu", "relu", "silu", "tanh", "sigmoid", "squaredrelu", "identity"]
Norm = Literal["layernorm", "layernorm_nobias", "groupnorm1", "batchnorm", "rmsnorm", "identity"]


class IdentityConfig(TokenMixerConfig):
    """The identity mixer has no settings beyond ``dim``."""


class AttentionConfig(TokenMixerConfig):
    """Multi-head self-attention over flattened tokens (Vaswani et al. 2017, eq. 1-2)."""

    head_dim: int = Field(32, ge=1, description="channels per head")
    num_heads: int | None = Field(None, ge=1, description="None: max(dim // head_dim, 1)")
    qkv_bias: bool = False
    proj_bias: bool = True
    causal: bool = Field(False, description="mask so token i attends only to tokens <= i (flattened)")
    attn_drop: float = Field(0.0, ge=0.0, lt=1.0)
    proj_drop: float = Field(0.0, ge=0.0, lt=1.0)


class MLPConfig(ChannelMixerConfig):
    """Per-token two-layer MLP: Linear(C, hidden) -> act -> Linear(hidden, C)."""

    mlp_ratio: float = Field(4.0, gt=0.0, description="hidden = round(mlp_ratio * dim) unless hidden_dim")
    hidden_dim: int | None = Field(None, ge=1)
    act: Activation = "gelu"
    bias: bool = True
    drop: float = Field(0.0, ge=0.0, lt=1.0)


def _as_list(value: object) -> object:
    """Per-stage fields accept one value for every stage or a list with one value per stage."""
    return value if isinstance(value, list) else [value]


def _one_or_list(schema: dict[str, Any]) -> None:
    """JSON Schema of a per-stage field: one value (for every stage) or a list of them, as :func:`_as_list`
    accepts (editors reading ``forwardkit schema`` would otherwise flag ``token_mixers: attention``)."""
    if schema.get("type") == "array" and "items" in schema:
        items = schema.pop("items")
        schema.pop("type")
        schema["anyOf"] = [items, {"type": "array", "items": items}]


#: the JSON schema of a field that takes one value for every stage, or a list with one per stage
_ONE_OR_LIST = Field(json_schema_extra=_one_or_list)
PerStage = Annotated[list[float | None], BeforeValidator(_as_list), _ONE_OR_LIST]


class MetaFormerConfig(ComponentConfig):
    """Hierarchical MetaFormer (Yu et al. 2022): stem, stages of pre-norm residual blocks
    ``x = rs*x + ls*mixer(norm(x))`` (token mixer, then channel mixer), downsampling between stages,
    and a pooled classification head. Inputs are channels-last: ``(B, H, W, C)`` when ``rank=2``,
    ``(B, N, C)`` (or ``(B, N)`` token ids with ``vocab_size``) when ``rank=1``.
    """

    in_channels: int = Field(3, ge=1, description="input channels C_in (ignored with vocab_size)")
    num_classes: int = Field(10, ge=0, description="outputs of the head; 0 returns the final tokens")
    rank: Literal[1, 2] = Field(2, description="spatial rank of the input: 1 sequences, 2 images")
    input_size: list[Annotated[int, Field(ge=1)]] | None = Field(
        None,
        description="spatial size of the input, [H, W] (rank 2) or [N] (rank 1), filled from the data; each "
        "stage's mixers are built for (and checked against) the grid it gets from it. None: unknown",
    )
    vocab_size: int | None = Field(None, ge=1, description="rank 1 only: embed integer token ids")
    depths: list[int] = Field(default_factory=lambda: [1, 1, 2, 1], min_length=1)
    dims: list[int] = Field(default_factory=lambda: [16, 32, 48, 64], min_length=1)
    token_mixers: Annotated[list[TokenMixerSpec], BeforeValidator(_as_list), _ONE_OR_LIST] = Field(
        default_factory=lambda: [TokenMixerSpec.parse("attention")],
        description="one spec for every stage, or one per stage",
    )
    channel_mixers: Annotated[list[ChannelMixerSpec], BeforeValidator(_as_list), _ONE_OR_LIST] = Field(
        default_factory=lambda: [ChannelMixerSpec.parse("mlp")],
        description="one spec for every stage, or one per stage",
    )
    norm: Annotated[list[Norm], BeforeValidator(_as_list), _ONE_OR_LIST] = Field(
        ["layernorm_nobias"], description="block norm, one or per stage"
    )
    norm_eps: float = Field(1e-6, gt=0.0)
    stem_kernel: int = Field(3, ge=1)
    stem_stride: int = Field(2, ge=1)
    downsample_kernel: int = Field(3, ge=1)
    downsample_stride: int = Field(2, ge=1)
    layer_scale_init: PerStage = Field([None], description="LayerScale on the branch; one value or per stage")
    res_scale_init: PerStage = Field([None], description="ResScale on the shortcut; one value or per stage")
    drop_path_rate: float = Field(0.0, ge=0.0, lt=1.0)
    head: Literal["linear", "mlp"] = "linear"
    head_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    pool: Literal["mean", "last"] = Field("mean", description="how tokens are pooled before the head")

    @model_validator(mode="after")
    def _check_stages(self) -> MetaFormerConfig:
        stages = len(self.depths)
        if len(self.dims) != stages:
            raise ValueError(f"dims has {len(self.dims)} entries but depths has {stages}")
        for name in ("token_mixers", "channel_mixers", "norm", "layer_scale_init", "res_scale_init"):
            value = getattr(self, name)
            if len(value) not in (1, stages):
                raise ValueError(f"{name} lists {len(value)} values; give 1 (all stages) or {stages} (one per stage)")
        if self.vocab_size is not None and self.rank != 1:
            raise ValueError("vocab_size needs rank=1 (token-id sequences)")
        if self.input_size is not None and len(self.input_size) != self.rank:
            raise ValueError(
                f"input_size {self.input_size} has {len(self.input_size)} axes but rank is {self.rank}: "
                "give [H, W] for images (rank 2), [N] for sequences (rank 1)"
            )
        if any(d < 1 for d in self.depths) or any(d < 1 for d in self.dims):
            raise ValueError("depths and dims must be positive")
        return self

    def per_stage(self, name: str) -> list:
        """The value of a per-stage field for each stage (a single value is repeated)."""
        value = list(getattr(self, name))
        return value * len(self.depths) if len(value) == 1 else value


class ResNetConfig(ComponentConfig):
    """CIFAR-style ResNet (He et al. 2016, sec. 4.2): 3 stages of basic blocks, depth = 6n + 2.
    Input ``(B, H, W, C)`` channels-last."""

    depth: int = Field(20, ge=8, description="6n+2: 8, 14, 20, 32, 44, 56, 110")
    width: int = Field(16, ge=1, description="channels of the first stage (doubled per stage)")
    in_channels: int = Field(3, ge=1)
    num_classes: int = Field(10, ge=1)
    norm: Literal["batchnorm", "groupnorm", "layernorm", "identity"] = "batchnorm"
    groups: int = Field(8, ge=1, description="groups for norm='groupnorm'")

    @model_validator(mode="after")
    def _check_depth(self) -> ResNetConfig:
        if (self.depth - 2) % 6:
            raise ValueError(f"depth must be 6n+2 (8, 14, 20, 32, ...), got {self.depth}")
        return self


class MLPNetConfig(ComponentConfig):
    """Multilayer perceptron on flattened inputs ``(B, *input_shape) -> (B, num_classes)``."""

    in_features: int = Field(64, ge=1, description="product of the per-sample input shape")
    hidden: list[int] = Field(default_factory=lambda: [256, 256])
    num_classes: int = Field(10, ge=1, description="outputs: classes or regression targets")
    act: Activation = "relu"
    norm: Literal["none", "batchnorm", "layernorm"] = "none"
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    bias: bool = True


# ---- datasets (forwardkit.builtin.data) -----------------------------------------------------------
class BlobsConfig(SplitConfig):
    """Gaussian class clusters: each class has ``clusters_per_class`` centres at distance ``separation``
    from the origin; samples are centre + N(0, noise^2) in every feature. Classes are balanced.
    With ``image_size`` the samples are ``(image_size, image_size, image_channels)`` images whose class
    centres are smooth (upsampled low-resolution) patterns, so convolutional and token-mixing models
    can learn them too."""

    n_samples: int = Field(1200, ge=3, description="samples over all splits")
    n_features: int = Field(16, ge=1, description="features per sample (set from image_size when that is given)")
    num_classes: int = Field(4, ge=2)
    clusters_per_class: int = Field(1, ge=1, description=">1 makes the class boundaries non-linear")
    separation: float = Field(3.0, ge=0.0, description="distance of each cluster centre from the origin")
    noise: float = Field(1.0, gt=0.0, description="standard deviation of the isotropic noise around a centre")
    image_size: int | None = Field(None, ge=2, description="yield (S, S, image_channels) images instead of vectors")
    image_channels: int = Field(1, ge=1, description="channels of the images (with image_size)")

    @model_validator(mode="after")
    def _check_image(self) -> BlobsConfig:
        if self.image_size is not None:
            pixels = self.image_size * self.image_size * self.image_channels
            if "n_features" in self.model_fields_set and self.n_features != pixels:
                raise ValueError(
                    f"n_features={self.n_features} contradicts image_size={self.image_size} x "
                    f"image_channels={self.image_channels} (= {pixels} features); leave n_features out"
                )
            if self.n_features != pixels:
                self.__dict__["n_features"] = pixels
        if self.n_samples < self.num_classes:
            raise ValueError(f"n_samples={self.n_samples} is smaller than num_classes={self.num_classes}")
        return self


class SequenceConfig(SplitConfig):
    """A sequence task that no single position can solve; inputs are ``(length, channels)`` floats.

    * ``count_compare`` (classification, 2 classes): each position holds one symbol, one-hot over the
      channels; symbol 0 is "A", symbol 1 is "B", the others are fillers (with 2 channels a filler is a
      zero vector). The label is 1 when A occurs more often than B. Counts never tie, and the margin is
      often 1, so the model must count over the whole sequence.
    * ``marked_sum`` (regression, target shape (1,)): channel 0 holds values in U(-1, 1), channel 1
      marks exactly two positions with 1; further channels hold distractor values. The target is the
      sum of the two marked values.
    """

    task: Literal["count_compare", "marked_sum"] = "count_compare"
    length: int = Field(32, ge=4, description="positions N per sequence")
    channels: int = Field(4, ge=2, description="channels C per position")
    n_samples: int = Field(4000, ge=10, description="samples over all splits")
    noise: float = Field(0.0, ge=0.0, description="std of Gaussian noise added to every input value")
