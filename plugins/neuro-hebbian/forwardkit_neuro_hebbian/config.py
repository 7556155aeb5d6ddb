"""Configs of the neuro-hebbian components (torch-free, so ``forwardkit show`` and ``schema`` stay fast).

Defaults are the spec card's reference values; the paper's method section could not be read, so the
values marked (card guess) in the descriptions are the card's reconstruction (see the README's deviations).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from forwardkit.config import ComponentConfig


class SoftHebbianConfig(ComponentConfig):
    """The soft competitive Hebbian rule of the early layer (SoftHebb form, paper Sec. 3.1; card guess).

    On every im2col patch ``x`` of the layer's input: ``u = W x``, ``y = softmax(u / tau)`` over the K
    neurons (soft lateral inhibition), ``dW_k = eta y_k (x - u_k W_k)`` (Oja-normalised), averaged over
    the patches of the batch. No gradients and no labels.
    """

    tau: float = Field(1.0, gt=0.0, allow_inf_nan=False,
                       description="softmax temperature of the lateral inhibition (tau -> 0: hard winner-take-all)")
    eta: float = Field(1e-3, gt=0.0, allow_inf_nan=False, description="Hebbian learning rate (card guess)")
    norm_mode: Literal["oja", "none"] = Field(
        "oja", description="oja: dW_k = eta y_k (x - u_k W_k) keeps ||W_k|| near 1; none: plain dW_k = eta y_k x")
    patch_subsample: int = Field(0, ge=0, description="0: every patch; >0: that many patches per image, drawn "
                                 "without replacement from the rule's generator (for large images)")
    update_bias: bool = Field(False, description="also update the bias, as the weight of a constant input 1 "
                              "appended to every patch (u then includes the bias)")
    keep_scale: bool = Field(True, description="apply the rule to the filters' directions W_k / ||W_k|| and keep "
                             "each filter's norm (source-trained filters are not unit-norm; card pitfall)")


class NeuroModulatorConfig(ComponentConfig):
    """Where the neuro-modulator goes and what it is (card guess: a light layer after the early layer).

    The adapter wraps the target module so that its output passes through the modulator; the modulator
    is part of the model from then on (trained with it on the source data, adapted at test time).
    """

    form: Literal["affine", "bn_affine", "conv1x1"] = Field(
        "affine", description="what the modulator is (the card's 'kind'); affine: per-channel scale and shift; "
        "bn_affine: a batch-norm layer (normalise, then scale and shift); conv1x1: a 1x1 "
        "convolution (Linear for token outputs) mixing the channels")
    init: Literal["identity", "default"] = Field(
        "identity", description="identity: the modulator starts as the identity map (affine, conv1x1); default: "
        "torch's initialisation of the layer")
    position: Literal["after_norm", "after_layer"] = Field(
        "after_norm", description="after_layer: right after the early layer; after_norm: after the first "
        "normalisation layer that follows it (a per-channel affine right before a batch norm would be undone by "
        "it); falls back to after_layer when no normalisation layer follows")
    layer: str | None = Field(None, description="module path of the early layer (None: the first Conv2d or "
                              "Linear of the model, in module order)")


class NHLConfig(ComponentConfig):
    """Neuro-modulated Hebbian learning at test time (paper Fig. 2): per test batch, (1) the early layer
    is updated by the soft Hebbian rule, (2) the neuro-modulator by one entropy-minimisation step, (3) the
    batch is predicted with the adapted model; everything else stays frozen."""

    hebbian: SoftHebbianConfig = Field(default_factory=SoftHebbianConfig, description="the soft Hebbian rule")
    use_hebbian: bool = Field(True, description="update the early layer by the soft Hebbian rule")
    use_modulator: bool = Field(True, description="update the neuro-modulator(s) by the entropy loss")
    mod_lr: float = Field(1e-3, gt=0.0, allow_inf_nan=False, description="learning rate of the modulator step")
    mod_optimizer: Literal["adam", "sgd"] = Field("adam", description="Tent's choice for small images: Adam")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD momentum (mod_optimizer='sgd')")
    steps_per_batch: int = Field(1, ge=1, description="Hebbian + modulator steps per test batch")
    bn_mode: Literal["test_stats", "source_stats"] = Field(
        "test_stats", description="test_stats: batch-norm layers normalise with the test batch's statistics (Tent's "
        "convention); source_stats: with the running statistics of the source training")
    episodic: bool = Field(False, description="restore the source model (and a fresh optimizer) after every batch")
    order: Literal["hebb_then_mod", "mod_then_hebb"] = Field(
        "hebb_then_mod", description="within a step: the Hebbian update first, then the modulator (paper Fig. 2)")
    layer: str | None = Field(None, description="module path of the Hebbian layer (None: the first Conv2d or Linear "
                              "of the model that is not inside a neuro-modulator)")
    seed: int = Field(0, ge=0, description="seed of the patch-subsampling generator (hebbian.patch_subsample > 0)")


class SourceOnlyConfig(NHLConfig):
    """The source model as trained, predicting every test batch: no update, batch norms on source statistics."""

    use_hebbian: bool = Field(False, description="update the early layer by the soft Hebbian rule")
    use_modulator: bool = Field(False, description="update the neuro-modulator(s) by the entropy loss")
    bn_mode: Literal["test_stats", "source_stats"] = Field("source_stats", description="batch-norm statistics")


class BNAdaptConfig(NHLConfig):
    """Test-batch normalisation statistics only (Schneider et al. 2020; Nado et al. 2020): no parameter update."""

    use_hebbian: bool = Field(False, description="update the early layer by the soft Hebbian rule")
    use_modulator: bool = Field(False, description="update the neuro-modulator(s) by the entropy loss")


class HebbianOnlyConfig(NHLConfig):
    """NHL without the neuro-modulator (the paper's ablation): soft Hebbian early layer, test-batch statistics."""

    use_modulator: bool = Field(False, description="update the neuro-modulator(s) by the entropy loss")


class ModulatorOnlyConfig(NHLConfig):
    """NHL without the Hebbian update (the paper's ablation): the neuro-modulator by entropy minimisation only."""

    use_hebbian: bool = Field(False, description="update the early layer by the soft Hebbian rule")


class NHLCNNConfig(ComponentConfig):
    """The card's reference CNN: per stage conv3x3 -> BatchNorm -> ReLU -> 2x2 max-pool; then an adaptive average
    pool to ``pool_size`` squared cells and a linear classifier. Channels-last ``(B, H, W, C)`` input."""

    in_channels: int = Field(1, ge=1, description="filled from the data")
    num_classes: int = Field(10, ge=1, description="filled from the data")
    channels: list[int] = Field(default_factory=lambda: [16, 32], min_length=1,
                                description="output channels of each conv stage (card: 16, 32)")
    pool_size: int = Field(4, ge=1, description="side of the adaptive average pool before the classifier")
    image_size: int = Field(28, ge=2, description="height and width of example_batch() (filled from the data)")
