"""Configs of the selfie components (torch-free, so ``forwardkit show`` and ``schema`` stay fast).

Defaults follow the paper (Trinh, Luong, Le 2019, arXiv:1906.02940) where its text says something, and the spec
card's small reference configuration otherwise: 32 x 32 images as a 4 x 4 grid of 8 x 8 patches (the paper's CIFAR
geometry), a three-block conv patch network with a 64-d output, two pre-norm Transformer layers (width 64, 4 heads)
for the attention pooling, position embeddings only on the queries, 4 masked patches, plain dot products
(temperature 1). The paper's hyper-parameter tables were not available to us: the number of masked patches, the
pooling depth and the encoder-side position information are the card's guesses and recorded in every report.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from forwardkit.config import ComponentConfig

#: the patch network P: the card's three conv blocks (``small_cnn``) or a ResNet-style stem with two basic blocks
#: (``resnet_stem``, the paper's "first residual stages" in miniature)
PatchNetKind = Literal["small_cnn", "resnet_stem"]


class PatchNetConfig(ComponentConfig):
    """The patch network P shared by the pretrainer and the classifier (so its weights carry by name)."""

    patch_net: PatchNetKind = Field("small_cnn", description="'small_cnn': 3x3 conv d/2 -> BN -> ReLU; 3x3 conv d "
                                    "stride 2 -> BN -> ReLU; 3x3 conv d -> BN -> ReLU (the card's); 'resnet_stem': "
                                    "3x3 conv d/2 -> BN -> ReLU, then two ResNet basic blocks (d stride 2, d)")
    embed_dim: int = Field(64, ge=4, description="d, the width of P's last block and of every patch embedding "
                           "(ResNet-50 stage 3 in the paper: 1024; even)")
    in_channels: int = Field(3, ge=1, description="image channels (filled from the dataset)")

    @model_validator(mode="after")
    def _even(self) -> PatchNetConfig:
        if self.embed_dim % 2:
            raise ValueError(f"embed_dim must be even (P's first block has embed_dim / 2 channels), got "
                             f"{self.embed_dim}")
        return self


class SelfiePretrainerConfig(PatchNetConfig):
    """Selfie's pre-training network (paper's method): P on every patch, attention pooling of the visible
    patches into u, and factorised position embeddings pos(r, c) = row[r] + col[c] for the queries u + pos."""

    patch_size: int = Field(8, ge=1, description="side P of a square patch, in pixels (32 x 32 images: 8)")
    grid: int = Field(4, ge=2, description="G, patches per side: an image of G x P pixels per side gives G^2 "
                      "patches (32 x 32: 4 x 4 = 16; 224 x 224: 7 x 7 of 32 x 32)")
    pad_input: bool = Field(True, description="zero-pad images smaller than G x P (MNIST's 28 -> 32) at the "
                            "centre; False: the side must equal G x P")
    pool_layers: int = Field(2, ge=1, description="pre-norm Transformer layers of the attention pooling A")
    pool_heads: int = Field(4, ge=1, description="attention heads of A (embed_dim must be a multiple)")
    mlp_ratio: float = Field(4.0, gt=0.0, description="hidden width of A's feed-forward networks over embed_dim")
    context_pos_emb: bool = Field(False, description="also add pos(r, c) to the visible patches' embeddings before "
                                  "pooling (not stated in the text we read; our reading: only queries get it)")
    pos_init_std: float = Field(0.5, gt=0.0, description="std of the row and column embeddings at initialisation "
                                "(each; pos = row + col)")

    @model_validator(mode="after")
    def _heads(self) -> SelfiePretrainerConfig:
        if self.embed_dim % self.pool_heads:
            raise ValueError(f"embed_dim ({self.embed_dim}) must be a multiple of pool_heads ({self.pool_heads})")
        return self


class SelfieClassifierConfig(PatchNetConfig):
    """The network fine-tuned on labels: P's conv trunk on the whole image (named ``patch_net`` as in the
    pretrainer, so pre-trained weights carry by name), more conv blocks, global average pooling, a linear head."""

    num_classes: int = Field(10, ge=1, description="classes (filled from the dataset)")
    head_widths: list[int] = Field(default_factory=lambda: [128, 128], description="channels of the conv blocks "
                                   "after the stem (each 3x3, stride 2, BN, ReLU)")
    pad_to: int | None = Field(32, ge=1, description="zero-pad images to this side at the centre before the stem "
                               "(the pretrainer's G x P; MNIST 28 -> 32); None: as they come")


class SelfieRuleConfig(ComponentConfig):
    """Selfie's pretext task as a learning rule (paper's method): hide ``num_masked`` patches per image, encode the
    rest into u, and for each hidden location classify which hidden patch was there (softmax cross-entropy
    over the hidden patches of the same image). Labels are never read."""

    num_masked: int = Field(4, gt=1, description="|T|, hidden patches per image (1 < num_masked < grid^2; also the "
                            "number of candidates of each softmax: chance = 1 / num_masked)")
    temperature: float = Field(1.0, gt=0.0, description="logits are divided by it (the paper: plain dot products, 1)")
    mask_sampling: Literal["uniform"] = Field("uniform", description="hidden locations: a uniform random subset per "
                                              "image")
    optimizer: Literal["adam", "adamw", "sgd"] = Field("adam", description="the optimizer of the update")
    lr: float = Field(1e-3, gt=0.0, description="learning rate")
    weight_decay: float = Field(0.0, ge=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="sgd only")
    mask_seed: int | None = Field(None, ge=0, description="seed of the mask draws (None: drawn from torch's "
                                  "generator at setup, so the experiment's seed decides it)")


class TransferPatchNetConfig(ComponentConfig):
    """Copy a pre-trained patch network into a classifier's stem by exact parameter name (paper's method: the
    patch network's weights initialise the first blocks of the fine-tuned network)."""

    checkpoint: str | None = Field(None, description="a safetensors file with a selfie_pretrainer's state (e.g. a "
                                   "stage's final/model.safetensors); None: copy nothing (only freeze)")
    prefix: str = Field("patch_net.", min_length=1, description="the name prefix of the patch network in both models")
    freeze: bool = Field(False, description="keep the copied stem fixed (a probe of the layers above it)")
    strict: bool = Field(True, description="every stem weight must be in the checkpoint with its shape")
