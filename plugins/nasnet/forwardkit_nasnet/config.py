"""Configs of the nasnet components (no torch here: discovery, ``show`` and validation import it).

Defaults: the spec card's CPU composition for the network (a CIFAR-style NASNet-A with 2 normal cells per stack,
F = 8) and, elsewhere, the authors' TensorFlow code (``research/slim/nets/nasnet``): stem multiplier 3, filter
scaling 2, two reductions, auxiliary-head weight 0.4, drop-path keep probability 0.6 with the "v3" schedule,
BatchNorm decay 0.9 / eps 1e-5 (the CIFAR arg scope). ``preset`` gives the paper's sizes (README.md lists them).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from forwardkit.config import ComponentConfig

Op = Literal["identity", "conv_1x3_3x1", "conv_1x7_7x1", "dil_conv_3x3", "avg_pool_3x3", "max_pool_3x3",
             "max_pool_5x5", "max_pool_7x7", "conv_1x1", "conv_3x3", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7"]
OpSet = Literal["full13", "reduced8"]
Combines = Literal["both", "add"]


class BlockSpec(ComponentConfig):
    """One block of a cell: ``s = combine(op_a(s[in_a]), op_b(s[in_b]))`` (paper sec. 3, steps 1-5); state 0 is
    the current input h_i, state 1 the previous h_{i-1}, block b makes state 2 + b."""

    in_a: int = Field(0, ge=0, le=63, description="input state of the first op (an earlier state)")
    op_a: Op = Field("identity", description="first operation (one of the 13 of the search space)")
    in_b: int = Field(1, ge=0, le=63, description="input state of the second op (an earlier state)")
    op_b: Op = Field("identity", description="second operation")
    combine: Literal["add", "concat"] = Field("add", description="element-wise add, or channel concat (2F)")


class GenotypeSpec(ComponentConfig):
    """A cell genotype: its blocks and its output rule (``concat``: explicit states; None: the unused ones)."""

    blocks: list[BlockSpec] = Field(min_length=1, max_length=16, description="the blocks, in order (paper: 5)")
    concat: list[int] | None = Field(None, description="states whose concat is the output; None: the states "
                                     "no block uses (the paper's rule)")

    @model_validator(mode="after")
    def _valid(self) -> GenotypeSpec:
        from forwardkit_nasnet.genotypes import Block, Genotype

        Genotype(tuple(Block(**b.model_dump()) for b in self.blocks),
                 None if self.concat is None else tuple(self.concat))  # raises ValueError with the reason
        return self


class NasNetConfig(ComponentConfig):
    """A NASNet (paper sec. 3, Fig. 2; the authors' ``_build_nasnet_base``): stem, then ``num_cells`` Normal
    cells in ``num_reduction_layers + 1`` stacks with a Reduction cell between stacks (the filters multiplied by
    ``filter_scaling_rate`` at each), ReLU, global average pool, dropout, linear classifier; an optional
    auxiliary head. Input ``(B, H, W, C_in)`` channels-last images. ``preset`` fills every size field the config
    does not set itself (see :data:`PRESETS`)."""

    preset: Literal["custom", "cifar_6_768", "mobile_4_1056", "large_6_4032"] = Field(
        "custom", description="the paper's models: CIFAR-10 NASNet-A 6 @ 768, ImageNet NASNet-A Mobile 4 @ 1056, "
        "Large 6 @ 4032 (N @ penultimate filters); custom: the fields below")
    stem: Literal["cifar", "imagenet"] = Field("cifar", description="cifar: 3x3 conv (stem_multiplier * F "
                                               "filters) + BN; imagenet: 3x3 stride-2 conv (32 * stem_multiplier) "
                                               "+ BN, then two Reduction 'stem cells' (F/4, F/2 filters)")
    num_cells: int = Field(6, ge=1, le=36, description="Normal cells in all (3 stacks of N = num_cells / 3 with "
                           "two reductions); the card's CPU composition: 6 (N = 2); paper CIFAR: 18")
    filters: int = Field(8, ge=2, le=512, description="F, the filters of the first stack's cells (card: 8; "
                         "paper CIFAR 32, Mobile 44, Large 168)")
    stem_multiplier: float = Field(3.0, gt=0.0, le=8.0, description="stem filters: cifar int(F * m), "
                                   "imagenet int(32 * m)")
    filter_scaling_rate: float = Field(2.0, gt=0.0, le=4.0, description="filters grow by this at each reduction")
    num_reduction_layers: int = Field(2, ge=0, le=4, description="Reduction cells between the stacks (TF: "
                                      "calc_reduction_layers)")
    skip_reduction_layer_input: bool = Field(False, description="h_{i-1} of the cell after a reduction is the "
                                             "state before the one the reduction saw (TF: Large's 1; else 0)")
    genotype: Literal["nasnet_a", "random"] = Field("nasnet_a", description="the released NASNet-A cells, or a "
                                                    "seeded random pair from the same search space")
    genotype_seed: int = Field(0, ge=0, description="seed of the random pair (genotype='random')")
    random_ops: Literal["full13", "reduced8"] = Field("full13", description="ops the random pair draws from")
    random_combines: Combines = Field("both", description="combines the random pair draws from: add and concat, "
                                      "or add only")
    normal_cell: GenotypeSpec | None = Field(None, description="an explicit Normal cell (overrides genotype)")
    reduction_cell: GenotypeSpec | None = Field(None, description="an explicit Reduction cell (overrides "
                                                "genotype)")
    aux_head: bool = Field(False, description="auxiliary classifier on the cell before the second reduction "
                           "(5x5/3 avg-pool, 1x1 conv 128, BN, ReLU, conv to 768, BN, ReLU, FC); training only")
    aux_weight: float = Field(0.4, ge=0.0, le=10.0, description="weight of the auxiliary loss (nasnet_aux_loss)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout before the classifier (1 - "
                           "dense_dropout_keep_prob: CIFAR 0, ImageNet 0.5)")
    bn_momentum: float = Field(0.1, gt=0.0, lt=1.0, description="BatchNorm momentum = 1 - TF decay (CIFAR 0.9)")
    bn_eps: float = Field(1e-5, gt=0.0, le=0.1, description="BatchNorm epsilon (CIFAR 1e-5, ImageNet 1e-3)")
    input_pool: int = Field(1, ge=1, le=8, description="average-pool the input images by this factor before "
                            "the stem (a CPU-budget knob, not in the paper: 1 = the paper's networks)")
    in_channels: int = Field(3, ge=1, le=64, description="channels of the (B, H, W, C) images")
    num_classes: int = Field(10, ge=1, description="classes of the classifier")
    image_size: list[int] = Field([32, 32], min_length=2, max_length=2, description="(H, W) of the input "
                                  "(the auxiliary head's last conv spans what is left of it; example batches)")

    @model_validator(mode="before")
    @classmethod
    def _fill_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset", "custom") in PRESETS:
            return {**PRESETS[data["preset"]], **data}
        return data

    @model_validator(mode="after")
    def _fits(self) -> NasNetConfig:
        least = 3 if self.stem == "imagenet" else 1
        if any(s // self.input_pool < least for s in self.image_size):
            raise ValueError(f"image_size={self.image_size} with input_pool={self.input_pool} leaves less than "
                             f"{least} pixel(s) for the {self.stem} stem")
        r = self.num_reduction_layers
        first = min((int(k / (r + 1) * self.num_cells) for k in range(1, r + 1)), default=1)
        if self.skip_reduction_layer_input and first == 0:
            raise ValueError(f"skip_reduction_layer_input needs a Normal cell before the first reduction; with "
                             f"num_cells={self.num_cells} and {r} reduction(s) the first comes before cell 0")
        return self


#: the paper's NASNet-A models (the authors' ``cifar_config``, ``mobile_imagenet_config``, ``large_imagenet_config``
#: and arg scopes); the ImageNet ones at 1000 classes without the auxiliary head (the Keras ports' counts)
PRESETS: dict[str, dict[str, Any]] = {
    "cifar_6_768": {"stem": "cifar", "num_cells": 18, "filters": 32, "stem_multiplier": 3.0, "aux_head": True,
                    "dropout": 0.0, "bn_momentum": 0.1, "bn_eps": 1e-5, "in_channels": 3, "num_classes": 10,
                    "image_size": [32, 32], "skip_reduction_layer_input": False},
    "mobile_4_1056": {"stem": "imagenet", "num_cells": 12, "filters": 44, "stem_multiplier": 1.0,
                      "aux_head": False, "dropout": 0.5, "bn_momentum": 0.0003, "bn_eps": 1e-3, "in_channels": 3,
                      "num_classes": 1000, "image_size": [224, 224], "skip_reduction_layer_input": False},
    "large_6_4032": {"stem": "imagenet", "num_cells": 18, "filters": 168, "stem_multiplier": 3.0,
                     "aux_head": False, "dropout": 0.5, "bn_momentum": 0.0003, "bn_eps": 1e-3, "in_channels": 3,
                     "num_classes": 1000, "image_size": [331, 331], "skip_reduction_layer_input": True},
}


class NasNetCellConfig(ComponentConfig):
    """One NASNet cell on its own (a ``model`` so that it can be built, shown and checked by name): ``x`` is h_i
    ``(B, H, W, in_channels)``, the optional ``prev`` is h_{i-1} ``(B, s*H, s*W, prev_channels)``."""

    genotype: Literal["nasnet_a_normal", "nasnet_a_reduction", "random_normal", "random_reduction"] = Field(
        "nasnet_a_normal", description="the released NASNet-A cells, or the Normal / Reduction cell of the seeded "
        "random pair")
    cell: GenotypeSpec | None = Field(None, description="an explicit genotype (overrides genotype)")
    reduction: bool | None = Field(None, description="stride-2 cell; None: from genotype (explicit cells: False)")
    seed: int = Field(0, ge=0, description="seed of the random pair")
    random_ops: OpSet = Field("full13", description="ops of the random pair")
    filters: int = Field(8, ge=2, le=512, description="F, the cell's filters")
    in_channels: int = Field(16, ge=1, le=1024, description="channels of h_i")
    prev_channels: int | None = Field(16, ge=1, le=1024, description="channels of h_{i-1}; None: no h_{i-1} "
                                      "(TF's first cell: state 1 is h_i itself, unchanged)")
    prev_scale: Literal[1, 2] = Field(1, description="h_{i-1} has 1x or 2x the resolution of h_i (2: ReLU + "
                                      "factorized reduction)")
    image_size: list[int] = Field([8, 8], min_length=2, max_length=2, description="(H, W) of h_i in example batches")
    bn_momentum: float = Field(0.1, gt=0.0, lt=1.0, description="BatchNorm momentum")
    bn_eps: float = Field(1e-5, gt=0.0, le=0.1, description="BatchNorm epsilon")


class ScheduledDropPathConfig(ComponentConfig):
    """ScheduledDropPath (paper sec. 4.1; the authors' ``_apply_drop_path``, version "v3")."""

    keep_prob: float = Field(0.6, gt=0.0, le=1.0, description="keep probability of the last cell at the end of "
                             "training (CIFAR: 0.6, Large: 0.7)")
    layer_scaling: bool = Field(True, description="'v3': cell c of C keeps 1 - (c+1)/C (1 - keep_prob), deeper "
                                "cells drop more; False: every cell keep_prob (the paper text's plain schedule)")
    total_steps: int | None = Field(None, ge=1, description="T of t / T (the keep probability reaches its final "
                                    "value at step T); None: the trainer's total steps")


class CellSearchConfig(ComponentConfig):
    """Random search over the NASNet search space on a proxy task (the card's feasible stand-in for the RL
    controller): ``budget_candidates`` seeded random cell pairs, each in the same network skeleton, trained
    ``proxy_epochs`` and ranked by proxy validation accuracy."""

    budget_candidates: int = Field(12, ge=1, le=1000, description="random (normal, reduction) pairs to train")
    proxy_epochs: int = Field(2, ge=1, le=100, description="training epochs of each candidate")
    ops: OpSet = Field("full13", description="the op list candidates draw from")
    combines: Combines = Field("both", description="combines candidates draw from")
    seed: int = Field(0, ge=0, description="candidate i is the random pair of seed 1000 * seed + i")
    filters: int = Field(8, ge=2, le=256, description="F of every candidate network")
    num_cells: int = Field(6, ge=1, le=36, description="Normal cells of every candidate network (3 stacks)")
    stem_multiplier: float = Field(3.0, gt=0.0, le=8.0, description="stem filters int(F * m)")
    batch_size: int = Field(64, ge=1, le=4096, description="proxy training batch size")
    lr: float = Field(0.025, gt=0.0, le=10.0, description="SGD learning rate (cosine to 0), momentum 0.9")
    weight_decay: float = Field(5e-4, ge=0.0, le=1.0, description="SGD weight decay (the authors' CIFAR 5e-4)")
    dataset: str | None = Field(None, description="a registered dataset for the proxy (its train split trains, "
                                "its val split ranks); None: the batches given to analyze(), split in halves")
    dataset_config: dict[str, Any] = Field(default_factory=dict, description="config of that dataset")
    include_model: bool = Field(True, description="also train the analysed model's own cells (a nasnet_network) "
                                "as one more candidate and report its rank")
    figure: bool = Field(True, description="a bar chart of the candidates' proxy accuracies")


class NasNetAuxLossConfig(ComponentConfig):
    """The auxiliary-head loss of a nasnet_network with ``aux_head=True``: ``weight * CE(aux_logits, y)``."""

    weight: float | None = Field(None, ge=0.0, le=10.0, description="None: the model's aux_weight (paper 0.4)")
