"""Configs of this plugin's components (torch-free, so `forwardkit show` and `schema` stay fast).

Paper: Emami and Martinez-Munoz, "Sequential Training of Neural Networks with Gradient Boosting" (IEEE Access
2023, arXiv:1909.12098); official code GAA-UAM/GBNN (``gbnn/GBNN.py``), whose defaults these are unless said.
S1-S6, M and T name the steps of the stage loop as the README lists them (the paper's numbering was not read).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from forwardkit.config import ComponentConfig, ModelSpec

Activation = Literal["sigmoid", "tanh", "relu"]
BoostLoss = Literal["auto", "squared", "binary_logexp", "softmax_ce"]


class BoostedMLPConfig(ComponentConfig):
    """The merged single-hidden-layer network ``Linear(D, T*J) -> act -> Linear(T*J, K)`` (merge M,
    the official ``to_NN``): stage ``t`` (0-based) owns hidden units ``[t*J, (t+1)*J)``."""

    in_features: int = Field(64, ge=1, description="D: product of the per-sample input shape (without a backbone); "
                             "filled from the data")
    num_classes: int = Field(10, ge=1, description="K: output logits (classes) or regression targets; filled from "
                             "the data")
    stages: int = Field(200, ge=1, description="T: boosting stages the hidden layer has room for (the official "
                        "total_nn / num_nn_step = 200 / 1)")
    units_per_stage: int = Field(1, ge=1, description="J: hidden units fitted per stage (official num_nn_step = 1)")
    activation: Activation = Field("sigmoid", description="hidden activation sigma (official: 'logistic')")
    backbone: dict[str, Any] | None = Field(None, description="a model spec {name: ..., **config} whose output "
                                            "features feed the head (the paper's deep variant: GB-NN trains the "
                                            "final layers); the boosting rule never trains it")
    backbone_features: int | None = Field(None, ge=1, description="width of the backbone's output (default: "
                                          "measured on the backbone's example batch)")

    @field_validator("backbone", mode="before")
    @classmethod
    def _backbone_spec(cls, value: Any) -> Any:
        """Validated against the registry like any model spec, kept as a plain mapping (a ModelSpec-typed field
        would nest every model's schema, this one's included, into this one's)."""
        if value is None:
            return None
        spec = ModelSpec.parse(value)
        return {"name": spec.name, **spec.config.model_dump(exclude_unset=True)}


class GradientBoostedHeadConfig(ComponentConfig):
    """Stage-wise gradient boosting of hidden-unit blocks on pseudo-residuals (steps S1-S6).

    Each trainer step fits one block of ``J`` hidden units (a fresh one-hidden-layer regressor) to the
    pseudo-residuals of the batch, on a random ``subsample`` of its rows, scales it by ``eta`` times a Newton
    step computed on every row of the batch, and writes it into the ``boosted_mlp``; with a batch that holds
    the whole training split (the paper's setting) every stage sees all N samples.
    """

    T: int | None = Field(None, ge=1, description="boosting stages (card: 200); default: the model's `stages`, "
                          "the one place the architecture is set (at most that)")
    J: int | None = Field(None, ge=1, description="hidden units per stage (card: 1); default: the model's "
                          "`units_per_stage` (must equal it)")
    eta: float = Field(0.1, gt=0.0, le=1.0, description="shrinkage of every stage's line-search step")
    subsample: float = Field(0.5, gt=0.0, le=1.0, description="share of the batch's rows each stage is fitted on, "
                             "drawn without replacement (stochastic gradient boosting)")
    stage_optimizer: Literal["lbfgs", "adam"] = Field("lbfgs", description="how a stage's regressor is fitted "
                                                      "(full batch on its subsample; official: sklearn L-BFGS)")
    stage_max_iter: int = Field(200, ge=1, description="iterations of the stage optimizer per trainer step "
                                "(official max_iter = 200, tol = 0: all of them)")
    stage_lr: float = Field(1e-3, gt=0.0, description="learning rate of the 'adam' stage optimizer (sklearn's "
                            "default); L-BFGS uses a strong-Wolfe line search")
    stage_l2: float = Field(1e-4, ge=0.0, description="L2 penalty alpha of the stage regressor (sklearn's "
                            "MLPRegressor: alpha/2 * ||weights||^2 / n_rows, biases not penalised)")
    steps_per_stage: int = Field(1, ge=1, description="trainer steps (batches) one stage is fitted over; the "
                                 "line search uses the stage's last batch")
    activation: Activation | None = Field(None, description="hidden activation; default: the model's (must "
                                          "equal it)")
    loss: BoostLoss = Field("auto", description="boosting loss; auto: squared for float targets, binary_logexp "
                            "for 2 classes, softmax_ce for more")
    f0: Literal["code", "optimal"] = Field("code", description="F_0 of softmax_ce: 'code' zeros (official), "
                                           "'optimal' the log class priors (the paper's text)")
    newton: Literal["code", "exact"] = Field("code", description="line search of softmax_ce: 'code' the official "
                                             "diagonal-Hessian step, 'exact' the 1-D Newton step on rho")
    seed: int | None = Field(None, ge=0, description="seed of the subsampling and of the stage inits "
                             "(default: the experiment's seed)")


class StageTruncationConfig(ComponentConfig):
    """Anytime truncation: keep the first ``t'`` stages of a ``boosted_mlp`` (switch off the last-trained units)."""

    tol: float = Field(0.005, ge=0.0, description="largest tolerated loss of validation accuracy (classification, "
                       "absolute) or relative rise of the MSE (regression) against the full model")
    grid: Literal["all", "powers_of_two"] = Field("all", description="which stage counts t' are tried: every one, "
                                                  "or 1, 2, 4, ... and T")
    stages: int | None = Field(None, ge=1, description="keep exactly this many stages (a fixed budget) instead of "
                               "searching by tol")
    repeats: int = Field(5, ge=1, description="timed calls per latency measurement (median)")
