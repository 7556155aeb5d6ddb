"""Configs of the ViT-ResNAS components (torch-free: discovery, ``forwardkit show`` and validation import this).

Liao, Karaman and Sze, "Searching for Efficient Multi-Stage Vision Transformers" (arXiv 2109.00642); official
code ``yilunliao/vit-search``. The paper's text was not available here, so docstrings name its sections by
topic (residual spatial reduction, weight-sharing NAS, multi-architectural sampling, evolutionary search) and
cite the official code's files for the details.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from forwardkit.config import ComponentConfig, TokenMixerSpec
from forwardkit_vit_resnas.presets import SUPERNET_PRESETS, VIT_RES_PRESETS

ViTResPreset = Literal["none", "vit_res_tiny", "vit_resnas_tiny", "vit_resnas_small", "vit_resnas_medium",
                       "deit_tiny", "deit_small", "deit_base"]
SuperNetPreset = Literal["none", "sr_tiny_mh"]
Stem = Literal["linear", "conv"]


def _fill_preset(data: Any, presets: dict[str, dict[str, Any]]) -> Any:
    """A preset fills every field it names that the given data does not set (so fields still override it)."""
    if not isinstance(data, dict) or data.get("preset", "none") in (None, "none"):
        return data
    name = data["preset"]
    if name not in presets:
        return data  # the Literal reports the bad name
    return {**presets[name], **data}


class ResidualSpatialReductionConfig(ComponentConfig):
    """Residual spatial reduction between two stages (paper: residual spatial reduction; official
    ``SpatialReductionPatchEmbedding``): tokens ``(B, T + h*w, in_dim) -> (B, T + h/2*w/2, out_dim)``."""

    in_dim: int = Field(48, ge=1, description="channels C of the input tokens")
    out_dim: int = Field(96, ge=1, description="channels C' of the output tokens (>= in_dim: the skip zero-pads)")
    grid: int = Field(8, ge=2, description="side h = w of the input patch grid (even)")
    num_cls_tokens: int = Field(1, ge=0, description="class (and distillation) tokens T in front of the patches")
    residual: bool = Field(True, description="add the parameter-free skip (2x2 avg-pool, zero-pad); False: the "
                           "plain strided-conv reduction of the ablation")
    kernel: int = Field(3, ge=1, description="kernel of the stride-2 conv (official: patch 2 + 1 = 3, padding 1)")
    new_pos_embed: bool = Field(True, description="add a new learned position embedding after the reduction")
    norm_eps: float = Field(1e-6, gt=0.0, description="epsilon of the (masked) LayerNorm of the main path")

    @model_validator(mode="after")
    def _check(self) -> ResidualSpatialReductionConfig:
        if self.out_dim < self.in_dim:
            raise ValueError(f"out_dim={self.out_dim} < in_dim={self.in_dim}: the skip path zero-pads C to C'")
        if self.grid % 2:
            raise ValueError(f"grid={self.grid} must be even (2x2 pooling, stride-2 conv)")
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel={self.kernel} must be odd (padding kernel // 2 keeps h/2 x w/2)")
        return self


class _NetworkFields(ComponentConfig):
    """Fields the plain network and the super-network share."""

    img_size: int = Field(32, ge=1, description="side of the (square) images the network runs at; smaller "
                          "inputs are zero-padded (centred) to it (mnist 28 -> 32)")
    in_channels: int = Field(3, ge=1, description="channels of the (B, H, W, C) input images")
    num_classes: int = Field(10, ge=1, description="classes of the head on the class token")
    patch: int = Field(4, ge=1, description="patch size of the stem (official: 14 on 224 px)")
    stem: Stem = Field("linear", description="'linear': one patch x patch conv (ViT); 'conv': the official "
                       "PatchConvEmbed (3 conv-BN-ReLU at half resolution, then a patch/2 conv)")
    stem_mid: int = Field(24, ge=1, description="channels of the conv stem's middle convs")
    residual_sr: bool = Field(True, description="residual spatial reductions (False: plain strided-conv reduction)")
    sr_kernel: int = Field(3, ge=1, description="kernel of the reductions' stride-2 conv (odd)")
    new_pos_embed: bool = Field(True, description="a new learned position embedding after each reduction")
    num_cls_tokens: int = Field(1, ge=1, description="class tokens in front of the patches (2 with distillation)")
    drop_path: float = Field(0.1, ge=0.0, lt=1.0, description="stochastic depth, rising linearly over the blocks")
    norm_eps: float = Field(1e-6, gt=0.0, description="epsilon of the LayerNorms")

    def _check_network(self, stages: int) -> None:
        divisor = self.patch * 2 ** (stages - 1)
        if self.img_size % divisor:
            raise ValueError(f"img_size={self.img_size} must be a multiple of patch * 2^(stages - 1) = {divisor} "
                             f"(each reduction halves the {self.img_size // self.patch}-token grid)")
        if self.stem == "conv" and self.patch % 2:
            raise ValueError(f"the conv stem needs an even patch (patch/2 projection at half size), got {self.patch}")
        if self.sr_kernel % 2 == 0:
            raise ValueError(f"sr_kernel={self.sr_kernel} must be odd")


class ViTResConfig(_NetworkFields):
    """ViT-Res (paper: residual spatial reduction): a multi-stage ViT whose stages are joined by residual spatial
    reductions. One stage (``dims=[C]``) is the single-stage DeiT-like ViT. Defaults: the card's miniature
    (32 px, patch 4: 8x8 -> 4x4 -> 2x2 tokens); ``preset`` gives the official architectures."""

    preset: ViTResPreset = Field("none", description="an official architecture (fills every field it names that "
                                 "is not set); 'none': the fields as given")
    dims: list[int] = Field(default_factory=lambda: [48, 96, 192], min_length=1,
                            description="channels per stage (non-decreasing)")
    depths: list[int] = Field(default_factory=lambda: [2, 2, 2], min_length=1, description="blocks per stage")
    heads: list[int] = Field(default_factory=lambda: [2, 4, 8], min_length=1, description="attention heads per stage")
    head_dims: list[int] | None = Field(None, description="channels per head, per stage (None: dims // heads)")
    mlp_ratio: float = Field(4.0, gt=0.0, description="MLP hidden width / channels (unless block_mlp)")
    block_heads: list[list[int]] | None = Field(None, description="heads of every block, per stage (a searched net)")
    block_mlp: list[list[int]] | None = Field(None, description="MLP hidden width of every block, per stage")
    token_mixer: TokenMixerSpec = Field(
        default_factory=lambda: TokenMixerSpec.parse({"name": "attention", "qkv_bias": True}),
        description="the blocks' token mixer, on (B, T + N, C) sequences with the class token (default: attention "
                    "with qkv bias, as DeiT); its num_heads and head_dim, if it has them, are set per block")

    @model_validator(mode="before")
    @classmethod
    def _fill(cls, data: Any) -> Any:
        return _fill_preset(data, VIT_RES_PRESETS)

    @model_validator(mode="after")
    def _check(self) -> ViTResConfig:
        stages = len(self.dims)
        for name in ("depths", "heads", "head_dims", "block_heads", "block_mlp"):
            value = getattr(self, name)
            if value is not None and len(value) != stages:
                raise ValueError(f"{name} has {len(value)} entries for {stages} stages (dims={self.dims})")
        if any(b > a for a, b in zip(self.dims[1:], self.dims, strict=False)):
            raise ValueError(f"dims={self.dims} must not decrease: the residual reduction zero-pads C to C'")
        for name in ("block_heads", "block_mlp"):
            value = getattr(self, name)
            if value is not None and [len(v) for v in value] != list(self.depths):
                raise ValueError(f"{name} gives {[len(v) for v in value]} blocks per stage, depths={self.depths}")
        if self.head_dims is None:
            bad = [(d, h) for d, h in zip(self.dims, self.heads, strict=True) if d % h]
            if bad:
                raise ValueError(f"dims must be divisible by heads when head_dims is None, got {bad}")
        self._check_network(stages)
        return self

    def stage_head_dim(self, stage: int) -> int:
        """Channels per head in ``stage``."""
        return self.head_dims[stage] if self.head_dims is not None else self.dims[stage] // self.heads[stage]

    def block_shapes(self) -> list[list[tuple[int, int, int]]]:
        """``(heads, head_dim, mlp_hidden)`` of every block, per stage."""
        out = []
        for s, depth in enumerate(self.depths):
            d = self.stage_head_dim(s)
            heads = self.block_heads[s] if self.block_heads is not None else [self.heads[s]] * depth
            mlp = self.block_mlp[s] if self.block_mlp is not None else [
                max(round(self.mlp_ratio * self.dims[s]), 1)] * depth
            out.append([(h, d, m) for h, m in zip(heads, mlp, strict=True)])
        return out


def _descending(value: list[list[int]]) -> list[list[int]]:
    return [sorted(set(v), reverse=True) for v in value]


class ViTResSuperNetConfig(_NetworkFields):
    """The weight-sharing super-network (paper: weight-sharing NAS; official ``FlexibleDistillVisionTransformerSR`` with
    ``supernet=True``): per stage a choice of embedding width, per block a choice of attention width (heads x
    head_dim) and MLP hidden width, and every ``skip_every``-th block may be skipped. Sub-networks keep prefixes
    of channels / heads / hidden units. Defaults: ``sr_tiny_mh`` with every width / 4 on 32 px (patch 4)."""

    preset: SuperNetPreset = Field("none", description="'sr_tiny_mh': the official tiny search space at 224 px")
    depths: list[int] = Field(default_factory=lambda: [6, 6, 6], min_length=1, description="blocks per stage")
    embed_choices: list[list[int]] = Field(
        default_factory=lambda: [[64, 56, 48, 44, 40], [128, 112, 96, 88, 80], [256, 224, 192, 176, 160]],
        description="embedding widths per stage; the largest is the super-network's width")
    head_dims: list[int] = Field(default_factory=lambda: [8, 12, 16], description="channels per head, per stage")
    attn_choices: list[list[int]] = Field(
        default_factory=lambda: [[48, 40, 32, 24], [144, 120, 96, 72], [192, 160, 128, 96]],
        description="attention widths (heads x head_dim) per stage, the same for every block of the stage")
    mlp_choices: list[list[int]] = Field(
        default_factory=lambda: [[192, 176, 160, 144, 128, 112, 96], [384, 352, 320, 288, 256, 224, 192],
                                 [768, 704, 640, 576, 512, 448, 384]],
        description="MLP hidden widths per stage")
    skip_every: int = Field(2, ge=0, description="block i of a stage may be skipped when (i + 1) % skip_every == 0 "
                            "(official: blocks 2, 4, 6); 0: no block is skippable")
    layer_keep_options: list[bool] = Field(
        default_factory=lambda: [True, True, False, False], min_length=1,
        description="the options of a skippable block, largest first (official [C, C, 0, 0]: skip with p = 1/2)")

    @model_validator(mode="before")
    @classmethod
    def _fill(cls, data: Any) -> Any:
        return _fill_preset(data, SUPERNET_PRESETS)
    _sorted = field_validator("embed_choices", "attn_choices", "mlp_choices")(
        classmethod(lambda cls, v: _descending(v)))

    @model_validator(mode="after")
    def _check(self) -> ViTResSuperNetConfig:
        stages = len(self.depths)
        for name in ("embed_choices", "head_dims", "attn_choices", "mlp_choices"):
            if len(getattr(self, name)) != stages:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {stages} stages")
        for s, (widths, d) in enumerate(zip(self.attn_choices, self.head_dims, strict=True)):
            if any(w % d for w in widths):
                raise ValueError(f"stage {s}: attention widths {widths} must be multiples of head_dim {d}")
        for s in range(stages - 1):
            if min(self.embed_choices[s + 1]) < max(self.embed_choices[s]):
                raise ValueError(f"stage {s + 1}'s smallest width {min(self.embed_choices[s + 1])} is below stage "
                                 f"{s}'s largest {max(self.embed_choices[s])}: the residual reduction zero-pads C "
                                 "to C' for every sub-network")
        if self.layer_keep_options[0] is not True:
            raise ValueError("layer_keep_options must start with True (the largest option: keep the block)")
        self._check_network(stages)
        return self

    def skippable(self, block: int) -> bool:
        """Whether block ``block`` (0-based, within its stage) may be skipped."""
        return self.skip_every > 0 and (block + 1) % self.skip_every == 0


class MultiArchSamplingConfig(ComponentConfig):
    """Multi-architectural sampling (paper: multi-architectural sampling): every batch trains ``B / examples_per_arch``
    sub-networks at once, each on its own slice of the batch (per-sample channel masks, one backward)."""

    examples_per_arch: int = Field(16, ge=1, description="samples per sampled architecture (official code default "
                                   "16, the scripts 64)")
    warmup_epochs: int = Field(3, ge=0, description="W: at epoch t only the largest min(1 + floor(t (K - 1) / W), K) "
                               "of the K options of each choice are sampled (0: all from the start)")
    rewire: bool = Field(True, description="during the warm-up (t <= W) re-sort heads and MLP units by importance "
                         "at each epoch start, so prefixes keep the most important units")
    single_arch: bool = Field(False, description="one architecture per step (the classic single-path baseline)")
    seed: int | None = Field(None, ge=0, description="seed of the sampler (None: torch's seed at fit start, i.e. "
                             "the experiment's seed)")


class EvolutionarySearchConfig(ComponentConfig):
    """MAC-constrained evolutionary search over the sub-networks of a trained super-network (paper: evolutionary search;
    official ``evo_search.py`` / ``search_utils``), then extraction of the winner as a stand-alone ViTRes."""

    budget_macs: float | None = Field(None, gt=0.0, description="MAC budget per image (official Tiny: 1.7944e9); "
                                      "None: budget_fraction of the largest sub-network's MACs")
    budget_fraction: float = Field(0.5, gt=0.0, le=1.0, description="the budget relative to the largest "
                                   "sub-network when budget_macs is None")
    lower_bound: float = Field(0.975, gt=0.0, le=1.0, description="candidates have lower_bound * budget <= MACs "
                               "<= budget")
    population: int = Field(50, ge=2, description="random sub-networks of the first iteration (official 500)")
    iterations: int = Field(5, ge=1, description="iterations, the first being the random population (official 20)")
    parents: int = Field(15, ge=2, description="the best evaluated sub-networks that breed (official 75)")
    mutants: int = Field(15, ge=0, description="children by mutation per iteration (official 75)")
    crossovers: int = Field(15, ge=0, description="children by crossover per iteration (official 75)")
    mutate_prob: float = Field(0.3, ge=0.0, le=1.0, description="probability of re-drawing each gene in a mutation")
    max_tries: int = Field(2000, ge=1, description="draws allowed to find one candidate inside the MAC window")
    seed: int = Field(0, ge=0, description="seed of the search (same seed, same data: same result)")
    retrain_epochs: int = Field(0, ge=0, description="passes over the given labelled batches to fine-tune the "
                                "extracted winner (the paper retrains from scratch on the training set)")
    retrain_lr: float = Field(1e-3, gt=0.0, description="AdamW learning rate of that fine-tune")
    latency_repeats: int = Field(5, ge=1, description="timed forward passes (median) for the latency figures")


class SupernetRankConfig(ComponentConfig):
    """How well the super-network ranks its sub-networks: Kendall tau and Spearman rho between the accuracy
    each sub-network gets inside the super-network and its accuracy trained stand-alone."""

    num_subnets: int = Field(6, ge=2, description="sub-networks sampled uniformly (when archs is None)")
    standalone_epochs: int = Field(15, ge=1, description="epochs of stand-alone training of each sub-network "
                                   "from scratch (when standalone_accuracy is None)")
    lr: float = Field(1e-3, gt=0.0, description="AdamW learning rate of the stand-alone training")
    batch_size: int = Field(64, ge=1, description="batch size of the stand-alone training")
    train_fraction: float = Field(0.5, gt=0.0, lt=1.0, description="share of the given samples the stand-alone "
                                  "nets train on; both rankings are measured on the rest")
    seed: int = Field(0, ge=0, description="seed of the sampling and the stand-alone training")
    archs: list[dict[str, Any]] | None = Field(None, description="sub-networks to rank (Arch.to_dict()); None: "
                                               "sample num_subnets")
    standalone_accuracy: list[float] | None = Field(None, description="stand-alone accuracies of archs, measured "
                                                    "elsewhere (skips the stand-alone training)")

    @model_validator(mode="after")
    def _check(self) -> SupernetRankConfig:
        if self.standalone_accuracy is not None and (self.archs is None
                                                     or len(self.archs) != len(self.standalone_accuracy)):
            raise ValueError("standalone_accuracy needs archs of the same length")
        return self
