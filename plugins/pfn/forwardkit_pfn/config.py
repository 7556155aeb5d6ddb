"""Configs of the pfn components (torch-free, so ``forwardkit show`` and ``schema`` stay fast).

Defaults are the paper's and its official code's (Mueller, Hollmann, Pineda Arango, Grabocka, Hutter, "Transformers
Can Do Bayesian Inference", ICLR 2022, arXiv:2112.10510; automl/TransformersCanDoBayesianInference):
GP prior ``priors/fast_gp.py`` (noise 0.1, outputscale 0.1, lengthscale 0.1, x ~ U[0, 1]^d), the transformer of
``transformer.py`` (post-LN encoder, GELU, no positional encoding, zero-initialised residual outputs), the bar
distribution of ``bar_distribution.py`` and the training loop of ``train.py`` (Adam, cosine schedule with linear
warm-up, gradient clipping at 1, gradient accumulation). Sizes follow the spec card (d_model 128, 4 layers, 4 heads,
d_ff 256, 100 buckets).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from forwardkit.config import ComponentConfig

Activation = Literal["tanh", "relu", "gelu"]


class _PriorConfig(ComponentConfig):
    """What every prior sampler shares: datasets of ``seq_len`` points with ``num_features`` inputs, the number of
    datasets per split (generated lazily: item i of a split is a function of (seed, split, i) only), the range of
    the evaluation position each item carries, and the seed."""

    num_features: int = Field(1, ge=1, description="d, the input dimension of every point x in R^d")
    seq_len: int = Field(50, ge=2, description="T, the points per dataset (training + query points)")
    x_dist: Literal["uniform"] = Field("uniform", description="inputs x ~ U[0, 1]^d for every point (the code's)")
    max_train_points: int = Field(40, ge=0, description="each item's eval_pos (its number of training points) is "
                                  "drawn uniformly from 0..max_train_points (must be < seq_len); the "
                                  "prior_fitting_rule replaces it by one weighted draw per batch when training")
    n_train_datasets: int = Field(160_000, ge=1, description="datasets in 'train' (generated on access; the card's "
                                  "budget: 2500 steps x 64 datasets)")
    n_val_datasets: int = Field(256, ge=0, description="datasets in 'val'")
    n_test_datasets: int = Field(2000, ge=0, description="datasets in 'test' (the card: 2000 fresh datasets)")
    seed: int = Field(0, ge=0, description="seed of every draw: the same config gives the same datasets anywhere")

    @model_validator(mode="after")
    def _room_for_queries(self) -> _PriorConfig:
        if self.max_train_points >= self.seq_len:
            raise ValueError(f"max_train_points ({self.max_train_points}) must be < seq_len ({self.seq_len}): "
                             "every dataset needs at least one query point")
        return self


class GPPriorConfig(_PriorConfig):
    """The GP prior of ``priors/fast_gp.py``: f ~ GP(0, outputscale * RBF(lengthscale)), y = f + N(0, noise).

    With ``lengthscale_max`` / ``outputscale_max`` set, each dataset draws its own hyper-parameter log-uniformly
    between the field and its maximum (a simple hyper-prior; the exact GP reference then does not apply)."""

    noise: float = Field(0.1, gt=0.0, description="s_n^2, the observation noise variance (code default 0.1)")
    outputscale: float = Field(0.1, gt=0.0, description="s_f^2, the kernel's output scale (code default 0.1)")
    lengthscale: float = Field(0.1, gt=0.0, description="l of k(x, x') = exp(-|x - x'|^2 / (2 l^2)) (default 0.1)")
    lengthscale_max: float | None = Field(None, gt=0.0, description="hyper-prior: l ~ logU[lengthscale, "
                                          "lengthscale_max] per dataset (None: the fixed lengthscale)")
    outputscale_max: float | None = Field(None, gt=0.0, description="hyper-prior: s_f^2 ~ logU[outputscale, "
                                          "outputscale_max] per dataset (None: the fixed outputscale)")
    jitter: float = Field(1e-6, ge=0.0, description="added to the diagonal of the function covariance before its "
                          "Cholesky factorisation (float64)")

    @model_validator(mode="after")
    def _ranges(self) -> GPPriorConfig:
        for low, high, name in ((self.lengthscale, self.lengthscale_max, "lengthscale"),
                                (self.outputscale, self.outputscale_max, "outputscale")):
            if high is not None and high < low:
                raise ValueError(f"{name}_max ({high}) must be >= {name} ({low})")
        return self


class BNNPriorConfig(_PriorConfig):
    """A Bayesian-neural-network prior: per dataset a fresh MLP with Gaussian weights, y = MLP(x) + N(0, noise_std^2).

    Weights W_l ~ N(0, weight_std^2 / fan_in), biases ~ N(0, bias_std^2) (the paper's BNN experiments use such
    i.i.d. Gaussian priors; their exact widths are not in the code read, so these sizes are this plugin's)."""

    hidden_dim: int = Field(16, ge=1, description="units of every hidden layer")
    num_layers: int = Field(2, ge=1, description="hidden layers")
    activation: Activation = Field("tanh", description="activation after every hidden layer")
    weight_std: float = Field(1.0, gt=0.0, description="weights ~ N(0, weight_std^2 / fan_in)")
    bias_std: float = Field(1.0, ge=0.0, description="biases ~ N(0, bias_std^2)")
    noise_std: float = Field(0.1, gt=0.0, description="std of the observation noise added to the MLP's output")


class BarDistributionConfig(ComponentConfig):
    """The Riemann ("bar") distribution of ``bar_distribution.py``: M buckets between borders b_0 < ... < b_M; the
    network gives M logits, p = softmax(logits), the density in bucket m is p_m / (b_{m+1} - b_m)."""

    num_buckets: int = Field(100, ge=2, description="M, the buckets (the network's outputs per query)")
    borders: Literal["from_prior_sample", "uniform"] = Field(
        "from_prior_sample", description="'from_prior_sample': equal-count buckets of a prior sample of ys "
        "(midpoints between consecutive quantile samples, as get_bucket_limits); 'uniform': M equal widths")
    full_support: bool = Field(True, description="replace the two outer buckets by half-normal tails (half of a "
                               "tail's mass within the bucket's width), so every real y has a finite loss")
    prior_sample_size: int = Field(100_000, ge=2, description="ys drawn from the prior to place the borders")
    y_range: list[float] | None = Field(None, min_length=2, max_length=2, description="[b_0, b_M], the outer "
                                        "borders (None: the prior sample's min and max)")
    prior: dict[str, Any] | None = Field(None, description="the prior dataset spec {name: ..., **config} the ys "
                                         "are drawn from (filled from the dataset's metadata; None: gp_prior's "
                                         "defaults)")
    prior_seed: int = Field(0, ge=0, description="seed of the prior sample that places the borders")

    @model_validator(mode="after")
    def _range(self) -> BarDistributionConfig:
        if self.y_range is not None and not self.y_range[0] < self.y_range[1]:
            raise ValueError(f"y_range must be [low, high] with low < high, got {self.y_range}")
        if self.prior is not None and not isinstance(self.prior.get("name"), str):
            raise ValueError("prior must be a dataset spec with a 'name' (e.g. {name: gp_prior, lengthscale: 0.2})")
        return self


class PFNTransformerConfig(ComponentConfig):
    """The PFN transformer of ``transformer.py`` in its permutation-invariant "single_eval_pos" mode."""

    num_features: int = Field(1, ge=1, description="d of the inputs x (filled from the dataset)")
    d_model: int = Field(128, ge=1, description="width of the tokens (the official 'emsize'/'ninp')")
    n_heads: int = Field(4, ge=1, description="attention heads (d_model must split into them)")
    n_layers: int = Field(4, ge=1, description="transformer encoder layers")
    d_ff: int = Field(256, ge=1, description="hidden width of every layer's feed-forward network and of the "
                      "decoder MLP (the official 'nhid')")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout in the encoder layers (official 0)")
    norm_first: bool = Field(False, description="pre-LN layers (False: post-LN, the official choice)")
    query_self_attention: bool = Field(True, description="each query also attends to itself (the official mask, "
                                       "generate_D_q_matrix); False: queries attend to the training points only")
    num_buckets: int = Field(100, ge=2, description="M, outputs per token: the logits of the bar distribution (must "
                             "equal the bar_distribution task's num_buckets)")
    zero_init: bool = Field(True, description="zero the attention and FFN output projections (weights and biases) "
                            "of every layer, so each residual branch starts at 0 (official init_weights)")
    attention: Literal["masked", "split"] = Field(
        "masked", description="'masked': full (T, T) attention with the train/query mask (the paper-literal form); "
        "'split': train->train self-attention plus query->(train, self) attention, O(s^2 + q s) instead of O(T^2), "
        "the same outputs (it needs one eval_pos for the whole batch: a batch with per-dataset eval_pos runs masked)")
    layer_norm_eps: float = Field(1e-5, gt=0.0, description="epsilon of the LayerNorms (torch's default)")
    y_range: list[float] = Field(default_factory=lambda: [-3.0, 3.0], min_length=2, max_length=2,
                                 description="outer borders of the model's own uniform bar distribution until the "
                                 "prior_fitting_rule attaches the run's bar_distribution task to it")

    @model_validator(mode="after")
    def _heads(self) -> PFNTransformerConfig:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if not self.y_range[0] < self.y_range[1]:
            raise ValueError(f"y_range must be [low, high] with low < high, got {self.y_range}")
        return self


class PriorFittingRuleConfig(ComponentConfig):
    """Prior-data fitting (train.py): per step a batch of datasets from the prior, one number of training points s
    per batch from the eval-position sampler, the NLL of the query points under the bar distribution, Adam with a
    linear warm-up then cosine decay, gradient clipping, gradient accumulation."""

    seq_len: int | None = Field(None, ge=2, description="use the first seq_len points of every dataset (None: all "
                                "T points of the batch; the prior's seq_len sets T, the card's 50)")
    max_train_points: int = Field(40, ge=0, description="s is drawn from 0..max_train_points (< T)")
    eval_pos_sampler: Literal["weighted", "uniform"] = Field(
        "weighted", description="'weighted': P(s = k) proportional to 1 / (T - k), so every count of training "
        "points weighs equally in the loss (utils.py); 'uniform': P(s = k) = 1 / (max_train_points + 1)")
    grad_clip: float | None = Field(1.0, gt=0.0, description="clip the gradient norm at this value (None: off)")
    accumulate: int = Field(1, ge=1, description="split every batch into this many micro-batches (each with its own "
                            "s) whose gradients add up before one update (official aggregate_k_gradients)")
    lr: float | None = Field(None, gt=0.0, description="Adam's learning rate (None: the official default "
                             "0.003239 - 0.0001395 ln(#parameters))")
    warmup_fraction: float = Field(0.25, ge=0.0, lt=1.0, description="linear warm-up over this share of the steps "
                                   "(the GP notebook: epochs // 4)")
    schedule: Literal["cosine", "constant"] = Field("cosine", description="after the warm-up: cosine decay to 0 "
                                                    "(get_cosine_schedule_with_warmup) or constant")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay (official 0)")
    total_steps: int | None = Field(None, ge=1, description="steps of the schedule (None: the run's planned steps)")
    seed: int = Field(0, ge=0, description="seed of the eval-position sampler (its state is kept for resume)")


class GPPosteriorReferenceConfig(ComponentConfig):
    """The exact GP posterior predictive (Cholesky, float64) against the PFN on the same datasets: for each number
    of training points n, the first n points of a dataset are its training set and its last ``num_queries`` points
    the queries."""

    noise: float = Field(0.1, gt=0.0, description="s_n^2 of the reference GP (set to the prior's)")
    outputscale: float = Field(0.1, gt=0.0, description="s_f^2 of the reference GP (set to the prior's)")
    lengthscale: float = Field(0.1, gt=0.0, description="l of the reference GP (set to the prior's)")
    wrong_lengthscale: float | None = Field(None, gt=0.0, description="also score a GP with this (wrong) lengthscale "
                                            "(the card: 0.05), to show the PFN is not just any smoother")
    n_train: list[int] = Field(default_factory=lambda: [0, 1, 2, 5, 10, 20, 40], min_length=1,
                               description="numbers of training points to compare at")
    num_queries: int = Field(10, ge=1, description="query points per dataset (its last points)")
    jitter: float = Field(1e-6, ge=0.0, description="added to K's diagonal (beyond the noise) for the Cholesky")
    chunk: int = Field(500, ge=1, description="datasets per PFN forward pass")
    plot: bool = Field(True, description="draw NLL against n (figure 'nll_curves')")

    @model_validator(mode="after")
    def _sorted(self) -> GPPosteriorReferenceConfig:
        if any(n < 0 for n in self.n_train):
            raise ValueError(f"n_train must be >= 0, got {self.n_train}")
        return self
