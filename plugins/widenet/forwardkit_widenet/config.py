"""Configs of the widenet components (no torch here: discovery, ``show`` and validation import it).

Defaults are the paper's (Xue et al. 2022, "Go Wider Instead of Deeper", sec. "Experiments": 4 experts, top-2,
capacity ratio C = 1.2, load-balance weight lambda = 0.01) and, where the paper is silent, the authors' TensorFlow
code (github.com/XueFuzhao/WideNet_Code: router noise std 1/E, load-balance density over the top-k choices, eps
1e-6 LayerNorms, a zero class token with GAP over all tokens, the tanh pre-logits layer); the card's ColossalAI
values are used only where neither says anything (eval capacity 2.0, minimum capacity 4). README.md lists each.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from forwardkit.config import ChannelMixerConfig, ComponentConfig, LearningRuleSpec

Activation = Literal["gelu", "relu", "silu", "squaredrelu"]


class MoEOptions(ComponentConfig):
    """How a top-k MoE FFN routes (paper eqs. 1-3 and the "Mixture-of-Experts" section): noisy softmax router,
    top-k choice, per-expert capacity with dropped tokens, load-balance loss; and which dispatch kernel runs it."""

    router_noise: Literal["normal", "none"] = Field(
        "normal", description="Gaussian noise on the router logits in training, 'for exploration' (paper eq. 2)")
    noise_std: float | None = Field(None, gt=0.0, le=10.0,
                                    description="std of that noise; None: 1/num_experts (the authors' code)")
    capacity_factor_train: float = Field(1.2, gt=0.0, le=64.0,
                                         description="capacity ratio C in training (paper: 1.2); an expert takes at "
                                         "most floor(C * K * tokens / E) tokens of a call")
    capacity_factor_eval: float = Field(2.0, gt=0.0, le=64.0,
                                        description="C in evaluation (ColossalAI's 2.0; with K=2, E=4 nothing drops)")
    min_capacity: int = Field(4, ge=0, le=4096, description="least capacity of an expert (ColossalAI)")
    drop_tokens: bool = Field(True, description="enforce the capacity (overflowing choices are dropped, their MoE "
                              "output is 0 and the residual passes); False: every choice is served")
    priority: Literal["choice", "token"] = Field(
        "choice", description="who fills a full expert first: 'choice' = every token's 1st choice before any 2nd "
        "(GShard/ColossalAI), 'token' = token order, all choices of a token together (the authors' TF code)")
    normalize_topk: bool = Field(False, description="renormalise the K chosen probabilities to sum 1 (off: the "
                                 "combine weights are the raw softmax probabilities, paper eq. 2)")
    aux_loss: Literal["topk", "switch", "none"] = Field(
        "topk", description="load-balance loss E * sum_i m_i P_i per call; m_i = share of the top-k choices "
        "(/K, the authors' code) or of the top-1 choices (Switch); 'none': not computed")
    dispatch: Literal["sorted", "einsum", "dense"] = Field(
        "sorted", description="kernel: 'sorted' (argsort + gather into capacity buffers), 'einsum' (one-hot "
        "dispatch/combine tensors, the authors' code), 'dense' (every expert on every token, paper eq. 1 literally; "
        "needs drop_tokens=False)")

    @model_validator(mode="after")
    def _dense_serves_all(self) -> MoEOptions:
        if self.dispatch == "dense" and self.drop_tokens:
            raise ValueError("dispatch='dense' runs paper eq. 1 literally, without capacity: set drop_tokens=False")
        return self


class ExpertOptions(ComponentConfig):
    """The experts: ``num_experts`` FFNs Linear(C, H) -> act -> Linear(H, C), ``top_k`` of them per token."""

    num_experts: int = Field(4, ge=1, le=64, description="E, experts (paper: 4)")
    top_k: int = Field(2, ge=1, le=8, description="K, experts per token (paper: top-2)")
    hidden_dim: int | None = Field(None, ge=1, le=8192, description="H of each expert; None: d_ff_ratio * C")
    d_ff_ratio: float = Field(4.0, gt=0.0, le=16.0, description="H / C when hidden_dim is None")
    activation: Activation = Field("gelu", description="the experts' activation")
    bias: bool = Field(True, description="biases in the experts' linear layers")
    drop: float = Field(0.0, ge=0.0, lt=1.0, description="dropout after the activation and after the output")

    @model_validator(mode="after")
    def _k_le_e(self) -> ExpertOptions:
        if self.top_k > self.num_experts:
            raise ValueError(f"top_k={self.top_k} must be at most num_experts={self.num_experts}")
        return self


class MoEFFNConfig(ChannelMixerConfig, ExpertOptions, MoEOptions):
    """Top-k mixture-of-experts FFN (paper eqs. 1-3): a channel mixer on ``(B, *spatial, C)``."""


class WideNetAdapterConfig(ComponentConfig):
    """WideNet from a MetaFormer stack (paper sec. "WideNet", Fig. 1): one token mixer and one MoE FFN per stack
    of blocks, reused by every block; LayerNorms stay per block."""

    share_attention: bool = Field(True, description="every block of a stack calls block 0's token mixer")
    share_ffn: bool = Field(True, description="every block of a stack calls one channel mixer")
    share_norms: bool = Field(False, description="also share the LayerNorms (the ALBERT-style ablation)")
    ffn: Literal["moe", "dense"] = Field("moe", description="'moe': the shared channel mixer becomes a MoEFFN "
                                         "initialised from block 0's dense FFN; 'dense': block 0's FFN is shared")
    experts: ExpertOptions = Field(default_factory=ExpertOptions, description="the MoE's experts (hidden width "
                                   "follows the dense FFN it replaces when hidden_dim is None)")
    moe: MoEOptions = Field(default_factory=MoEOptions, description="routing, capacity and dispatch of the MoE")
    init_noise: float = Field(0.01, ge=0.0, le=1.0, description="std of the noise added to each expert's copy of "
                              "the dense FFN, relative to each weight tensor's std (breaks the experts' symmetry)")
    aux_weight: float = Field(0.01, ge=0.0, le=10.0, description="lambda: loss() adds lambda * the sum of the "
                              "load-balance losses of every MoE call (paper: 0.01); 0: no loss")


class WideNetViTConfig(ComponentConfig):
    """WideNet-ViT (paper Fig. 1; the authors' ``create_vit_moe_classifier``): patch embedding, ``depth`` pre-LN
    blocks whose attention and FFN (MoE) are shared across depth, per-block LayerNorms, pooled head.

    ``preset`` fills every size field the config does not set itself (see :data:`PRESETS`)."""

    preset: Literal["custom", "widenet_b", "widenet_l", "widenet_h", "vit_b", "vit_l", "vit_h"] = Field(
        "custom", description="paper sizes (ImageNet, 224 px) for WideNet-B/L/H and the ViT-B/L/H baselines; "
        "custom: the fields below")
    in_channels: int = Field(3, ge=1, le=64, description="channels of the (B, H, W, C) images")
    num_classes: int = Field(1000, ge=1, description="classes of the head")
    image_size: list[int] = Field([28, 28], min_length=2, max_length=2, description="(H, W) of the input")
    patch: int = Field(4, ge=1, le=64, description="patch side (non-overlapping patch embedding)")
    depth: int = Field(6, ge=1, le=64, description="T, transformer blocks")
    dim: int = Field(96, ge=1, le=4096, description="C, token width")
    heads: int = Field(4, ge=1, le=64, description="attention heads (must divide dim)")
    hidden_dim: int | None = Field(None, ge=1, le=16384, description="FFN / expert hidden width; None: "
                                   "d_ff_ratio * dim")
    d_ff_ratio: float = Field(4.0, gt=0.0, le=16.0, description="hidden width / dim when hidden_dim is None")
    ffn: Literal["moe", "dense"] = Field("moe", description="MoE FFN (WideNet, ViT-MoE) or dense FFN (ViT, ALBERT)")
    num_experts: int = Field(4, ge=1, le=64, description="E (paper: 4)")
    top_k: int = Field(2, ge=1, le=8, description="K (paper: 2)")
    share_attention: bool = Field(True, description="one attention module for all blocks")
    share_ffn: bool = Field(True, description="one FFN / MoE (router and experts) for all blocks")
    share_norms: bool = Field(False, description="one pair of LayerNorms for all blocks (ALBERT-style); WideNet "
                              "keeps them per block")
    moe: MoEOptions = Field(default_factory=MoEOptions, description="routing, capacity and dispatch of the MoE")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout after the embedding, attention and FFN layers "
                           "(the authors' dropout_rate)")
    attn_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout of the attention weights")
    drop_path: float = Field(0.0, ge=0.0, lt=1.0, description="stochastic depth of the last block (linear from 0; "
                             "per block even where modules are shared)")
    cls_token: bool = Field(True, description="prepend a constant zero token with its own position embedding "
                            "(the authors' PatchEncoder)")
    pool: Literal["gap", "cls"] = Field("gap", description="mean over all tokens (WideNet, ViT-MoE) or the class "
                                        "token (the ViT baselines)")
    representation: bool = Field(True, description="Linear(C, C) + tanh before the head (the authors' "
                                 "--use_representation)")
    norm_eps: float = Field(1e-6, gt=0.0, le=1e-2, description="LayerNorm epsilon")

    @model_validator(mode="before")
    @classmethod
    def _fill_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset", "custom") != "custom" and data["preset"] in PRESETS:
            return {**PRESETS[data["preset"]], **data}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> WideNetViTConfig:
        if self.dim % self.heads:
            raise ValueError(f"heads={self.heads} must divide dim={self.dim}")
        if self.top_k > self.num_experts:
            raise ValueError(f"top_k={self.top_k} must be at most num_experts={self.num_experts}")
        if any(s % self.patch for s in self.image_size):
            raise ValueError(f"patch={self.patch} must divide image_size={self.image_size}")
        if self.pool == "cls" and not self.cls_token:
            raise ValueError("pool='cls' needs cls_token=True")
        return self


_WIDENET = {"ffn": "moe", "share_attention": True, "share_ffn": True, "share_norms": False, "pool": "gap",
            "num_experts": 4, "top_k": 2}
_VIT = {"ffn": "dense", "share_attention": False, "share_ffn": False, "share_norms": False, "pool": "cls"}
_IMAGENET = {"image_size": [224, 224], "patch": 16, "in_channels": 3, "num_classes": 1000, "cls_token": True,
             "representation": True}

#: the paper's models (ImageNet-1K, 224 px, 16 px patches), sizes from the authors' ``configs.py``: WideNet-B/L/H use
#: ``get_moeb16/moel16/moeh14_config`` (expert widths 4096, 4096, 5120), the ViTs ``get_b16/l16/h14_config``
PRESETS: dict[str, dict[str, Any]] = {
    "widenet_b": {**_IMAGENET, **_WIDENET, "depth": 12, "dim": 768, "heads": 12, "hidden_dim": 4096},
    "widenet_l": {**_IMAGENET, **_WIDENET, "depth": 24, "dim": 1024, "heads": 16, "hidden_dim": 4096},
    "widenet_h": {**_IMAGENET, **_WIDENET, "depth": 32, "dim": 1280, "heads": 16, "hidden_dim": 5120},
    "vit_b": {**_IMAGENET, **_VIT, "depth": 12, "dim": 768, "heads": 12, "hidden_dim": 3072},
    "vit_l": {**_IMAGENET, **_VIT, "depth": 24, "dim": 1024, "heads": 16, "hidden_dim": 4096},
    "vit_h": {**_IMAGENET, **_VIT, "patch": 14, "depth": 32, "dim": 1280, "heads": 16, "hidden_dim": 5120,
              "pool": "gap"},
}


class MoEAuxLossConfig(ComponentConfig):
    """Adds the MoE load-balance loss to another rule's training loss: ``L = L_task + weight * sum_t l_bal^t``."""

    weight: float = Field(0.01, ge=0.0, le=10.0, description="lambda (paper: 0.01)")
    reduce: Literal["sum", "mean"] = Field("sum", description="over the MoE calls of a forward pass (one per block "
                                           "for a shared MoE): 'sum' (the authors' Keras add_loss) or 'mean'")
    rule: dict[str, Any] = Field(default_factory=lambda: {"name": "backprop"},
                                 description="the learning rule that does the update, {name: ..., **config} (its "
                                 "loss gets the term); validated against the registry")

    @field_validator("rule")
    @classmethod
    def _rule_spec(cls, value: dict[str, Any]) -> dict[str, Any]:
        # a plain mapping, not a LearningRuleSpec field: that field's JSON schema would embed every rule's config,
        # this one's included, without end
        return LearningRuleSpec.parse(value).to_dict(exclude_unset=True)


class ExpertLoadConfig(ComponentConfig):
    """Per-call expert load of every MoE FFN in a model, on a few batches in eval mode."""

    max_batches: int = Field(4, ge=1, le=1000, description="batches of the data to route")
    figure: bool = Field(True, description="a heat map of the load per block and expert")
