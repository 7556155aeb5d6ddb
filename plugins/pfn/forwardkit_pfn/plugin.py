"""Registration of the pfn components (no torch import here: only import paths)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(
    title="Transformers Can Do Bayesian Inference",
    arxiv="2112.10510",
    year=2022,
    url="https://openreview.net/forum?id=KSugKcbNf9",
)
_PKG = "forwardkit_pfn"
_CFG = f"{_PKG}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("model", "pfn_transformer", target=f"{_PKG}.model:PFNTransformer", config=f"{_CFG}:PFNTransformerConfig",
        summary="prior-data fitted network: Enc_x(x) + Enc_y(y) tokens without positions, post-LN transformer with "
        "the train/query mask (queries see the training points and themselves), zero-init residual outputs, "
        "decoder MLP to bar-distribution logits",
        paper=PAPER, functional=f"{_PKG}.mask:pfn_attention_mask")
    add("task", "bar_distribution", target=f"{_PKG}.bar:BarDistributionTask", config=f"{_CFG}:BarDistributionConfig",
        summary="Riemann (bar) output distribution: equal-count buckets of a prior sample, NLL -log p_m + log w_m "
        "on the query points, half-normal tails for full support; mean, quantile, mode",
        paper=PAPER, functional=f"{_PKG}.bar:borders_from_sample")
    add("learning_rule", "prior_fitting_rule", target=f"{_PKG}.rule:PriorFittingRule",
        config=f"{_CFG}:PriorFittingRuleConfig",
        summary="prior-data fitting: batches of prior datasets, one weighted eval position s per batch "
        "(P(s=k) ~ 1/(T-k)), query NLL, AdamW with warm-up + cosine, clipping 1.0, gradient accumulation",
        paper=PAPER, functional=f"{_PKG}.positions:sample_eval_pos")
    add("dataset", "gp_prior", target=f"{_PKG}.priors:GPPrior", config=f"{_CFG}:GPPriorConfig",
        summary="datasets from a GP prior: x ~ U[0,1]^d, y ~ N(0, s_f^2 RBF_l + s_n^2 I) (batched float64 "
        "Cholesky), optional log-uniform hyper-priors; lazy, seedable per item",
        paper=PAPER, functional=f"{_PKG}.priors:sample_gp_prior")
    add("dataset", "bnn_prior", target=f"{_PKG}.priors:BNNPrior", config=f"{_CFG}:BNNPriorConfig",
        summary="datasets from a BNN prior: a fresh Gaussian-weight MLP per dataset plus Gaussian noise; lazy, "
        "seedable per item",
        paper=PAPER, functional=f"{_PKG}.priors:sample_bnn_prior")
    add("analyzer", "gp_posterior_reference", target=f"{_PKG}.reference:GPPosteriorReference",
        config=f"{_CFG}:GPPosteriorReferenceConfig",
        summary="exact GP posterior predictive by Cholesky (float64): NLL / MSE of the PFN, the GP, the prior and a "
        "wrong-lengthscale GP against the number of training points, and the PFN's gap in nats",
        paper=PAPER, functional=f"{_PKG}.reference:gp_posterior_predictive")
    # `forwardkit reproduce pfn` runs this spec (read without torch: a module path, not an object)
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
