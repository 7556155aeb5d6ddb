"""Configs of the dann components (torch-free, so ``forwardkit show`` and ``schema`` stay fast).

Defaults are the paper's (Ganin et al. 2016, JMLR 17(59), sec. 4.2 and 5.2.1-5.2.2, Fig. 4a; equation numbers are
those of the JMLR version, arXiv:1505.07818v4): gamma = 10,
mu_0 = 0.01, alpha = 10, beta = 0.75, momentum 0.9, the MNIST CNN, a FC100-ReLU-FC1 domain head.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from forwardkit.config import ChannelMixerConfig, ComponentConfig

Activation = Literal["relu", "gelu", "tanh", "sigmoid"]


class GradientReversalConfig(ChannelMixerConfig):
    """The gradient reversal layer R_lambda (sec. 4.2, eq. 16-17): identity forward, ``-lambda`` times the
    gradient backward. ``dim`` is only the token width the holder declares (R has no parameters)."""

    lambda_: float = Field(1.0, ge=0.0, description="lambda of the backward pass dR/dx = -lambda I; a learning "
                           "rule may set it every step (the dann rule's lambda_p schedule)")


class DomainAdversarialHeadConfig(ComponentConfig):
    """The domain classifier G_d attached through a GRL to a backbone's feature tap (sec. 4.2, Fig. 1, Fig. 4a)."""

    tap: str = Field("features", min_length=1,
                     description="the backbone module whose output is the feature f (a name from named_modules(); "
                     "a unique suffix such as 'features' also matches 'backbone.features'); flattened to (B, D)")
    hidden: list[int] = Field(default_factory=lambda: [100], description="hidden widths of G_d (Fig. 4a: [100]; "
                              "the SVHN / sign nets: [1024, 1024]); [] is a logistic regression on f")
    activation: Activation = Field("relu", description="activation after each hidden layer")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout after each hidden activation (paper: none)")
    lambda_: float = Field(1.0, ge=0.0, description="initial lambda of the GRL (the dann rule sets lambda_p each step)")
    target_key: str = Field("target_x", min_length=1,
                            description="the batch key of the unlabelled target rows (trainer.paired's prefix + x)")
    in_features: int | None = Field(None, ge=1, description="D, the flattened width of the tap (None: measured "
                                    "once on the backbone's example_batch())")


class DannRuleConfig(ComponentConfig):
    """Joint SGD on label loss (source) + domain loss (source and target, through the GRL): eq. 13-15 / 18 of
    sec. 4.2, with the schedules of sec. 5.2.2.

    At step t of T (progress p = t / T): lambda_p = lambda_max (2 / (1 + exp(-gamma p)) - 1) in the GRL only
    (the domain classifier itself always gets its loss at weight ``domain_loss_weight``, as sec. 5.2.2 and its
    footnote 6 say: "for updating the domain classification component, we used a fixed lambda = 1"); learning rate
    mu_p = lr0 / (1 + lr_alpha p)^lr_beta; SGD with momentum.
    """

    gamma: float = Field(10.0, gt=0.0, description="steepness of the lambda_p schedule (paper: 10)")
    lambda_max: float = Field(1.0, ge=0.0, description="the value lambda_p rises to (0: no adversarial signal, "
                              "i.e. source-only training of the features)")
    lambda_schedule: Literal["sigmoid", "constant"] = Field(
        "sigmoid", description="'sigmoid': lambda_p = lambda_max (2 / (1 + exp(-gamma p)) - 1); 'constant': lambda_max")
    lr0: float = Field(0.01, gt=0.0, description="mu_0, the initial learning rate")
    lr_alpha: float = Field(10.0, ge=0.0, description="alpha of mu_p = mu_0 / (1 + alpha p)^beta")
    lr_beta: float = Field(0.75, ge=0.0, description="beta of mu_p = mu_0 / (1 + alpha p)^beta")
    anneal_lr: bool = Field(True, description="False: the constant mu_0 (the paper's MNIST <-> SVHN runs)")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="SGD momentum")
    weight_decay: float = Field(0.0, ge=0.0, description="SGD weight decay (the paper states none for MNIST)")
    domain_loss_weight: float = Field(1.0, ge=0.0, description="weight of the domain loss; the domain classifier "
                                      "learns from it at this weight, the features at lambda_p times it (paper: 1)")
    total_steps: int | None = Field(None, ge=1, description="T for p = t / T (None: the run's planned number of "
                                    "steps); kept in the state, so a resumed run continues the same schedules")
    target_prefix: str = Field("target_", min_length=1, description="keys with this prefix are target rows; the "
                               "label loss sees the batch without them (target labels are never read)")


class ProxyADistanceConfig(ComponentConfig):
    """The proxy A-distance (Ben-David et al. 2007; sec. 3.2 eq. 2-3, procedure of sec. 5.1.5): linear classifiers
    learn to tell source from target features at ``tap`` on one half of the samples; with the lowest error ``err``
    on the other half, PAD = 2 (1 - 2 err)."""

    tap: str = Field("features", min_length=1, description="the module whose flattened output is the feature "
                     "(a name from named_modules() or a unique suffix of one)")
    classifier: Literal["linear_svm", "logistic"] = Field(
        "linear_svm", description="sklearn LinearSVC (the paper's linear SVM) or LogisticRegression")
    c_values: list[float] = Field(
        default_factory=lambda: [0.001, 0.01, 0.1, 1.0], min_length=1,
        description="regularisation C to try (the paper: 'a large range of C values')")
    selection: Literal["lowest_test_error", "cross_validation"] = Field(
        "lowest_test_error", description="'lowest_test_error': one classifier per C on the first half, the lowest "
        "error on the second half gives PAD (sec. 5.1.5, steps 3-5); 'cross_validation': C chosen by 3-fold "
        "cross-validation on the first half and scored once on the second (an unbiased error; the paper's minimum "
        "over C is slightly optimistic)")
    test_fraction: float = Field(0.5, gt=0.0, lt=1.0, description="share of the samples the error is measured on "
                                 "(the paper: two subsets of equal size)")
    max_per_domain: int = Field(2000, ge=2, description="at most this many samples of each domain (the two "
                                "domains are balanced to the smaller count)")
    standardize: bool = Field(True, description="z-score the features with the training half's statistics")
    domain_key: str = Field("domain", description="batches with this key: rows with 0 are source, others target")
    target_key: str = Field("target_x", description="batches with this key: 'x' is source, this key target")
    seed: int = Field(0, ge=0, description="seed of the balancing and of the train / test split")


class DannMnistCnnConfig(ComponentConfig):
    """The paper's MNIST network (Fig. 4a): conv5x5-32, ReLU, maxpool 2/2, conv5x5-48, ReLU, maxpool 2/2 (the
    ``features`` module: 48 x 4 x 4 = 768 for 28 x 28), then FC100-ReLU-FC100-ReLU-FC10 (``classifier``)."""

    in_channels: int = Field(3, ge=1, description="channels of the (B, H, W, C) images (filled from the data)")
    num_classes: int = Field(10, ge=1, description="classes (filled from the data)")
    image_size: int = Field(28, ge=4, description="H = W of the images (filled from the data)")
    conv_channels: list[int] = Field(default_factory=lambda: [32, 48], min_length=1,
                                     description="output channels of the conv5x5-ReLU-maxpool stages")
    kernel_size: int = Field(5, ge=1, description="side of the convolutions (valid padding)")
    hidden: list[int] = Field(default_factory=lambda: [100, 100], description="hidden widths of the label predictor")
    input_mean: list[float] | None = Field(
        None, description="per-channel mean subtracted from the inputs ('inputs mean-subtracted'; filled from the "
        "dataset's extra['pixel_mean'] when it has one; None: nothing subtracted)")

    @model_validator(mode="after")
    def _fits(self) -> DannMnistCnnConfig:
        size = self.image_size
        for _ in self.conv_channels:
            size = (size - self.kernel_size + 1) // 2
            if size < 1:
                raise ValueError(f"{self.image_size}x{self.image_size} images are too small for "
                                 f"{len(self.conv_channels)} conv{self.kernel_size}-pool stages")
        if self.input_mean is not None and len(self.input_mean) != self.in_channels:
            raise ValueError(f"input_mean has {len(self.input_mean)} values for {self.in_channels} channels")
        return self
