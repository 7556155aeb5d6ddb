"""Registration of the tokenunify components (no torch import here: only import paths)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(
    title="TokenUnify: Scalable Autoregressive Visual Pre-training with Mixture Token Prediction",
    arxiv="2405.16847",
    year=2024,
    url="https://github.com/ydchen0806/TokenUnify",
)
_PKG = "forwardkit_tokenunify"
_CFG = f"{_PKG}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("learning_rule", "mixture_token_prediction", target=f"{_PKG}.rule:MixtureTokenPrediction",
        config=f"{_CFG}:MixtureTokenPredictionConfig",
        summary="TokenUnify pre-training: random token prediction (int(K r) patches filled with noise, MSE of "
        "sigmoid(out) to x), then next-token (prefix k ~ U{1..K-1} kept, the head predicts token k) + next-all "
        "(reconstruct the clean image from the prefix), in phases; sum or alternate",
        paper=PAPER, functional=f"{_PKG}.masking:prefix_inputs")
    add("adapter", "next_token_head", target=f"{_PKG}.head:NextTokenHeadAdapter",
        config=f"{_CFG}:NextTokenHeadAdapterConfig",
        summary="attaches the official 'Preciever' head (3 stride-2 3x3 convs 1-12-12-1, Linear to one patch, "
        "sigmoid) to a dense model as model.next_token_head",
        paper=PAPER, functional=f"{_PKG}.head:attach_next_token_head")
    add("model", "tokenunify_unet", target=f"{_PKG}.unet:TokenUnifyUNet", config=f"{_CFG}:UNetConfig",
        summary="the card's reference model: a 2-D/3-D U-Net (16-32-64-128) with a causal linear-time token mixer "
        "over the bottleneck tokens (raster order); dense channels-last logits",
        paper=PAPER)
    add("token_mixer", "gated_linear_recurrence", target=f"{_PKG}.recurrence:GatedLinearRecurrence",
        config=f"{_CFG}:GatedLinearRecurrenceConfig",
        summary="causal O(N) gated linear recurrence h_t = a_t h_{t-1} + (1 - a_t) W_v x_t, y = W_o(h * silu(W_g "
        "x)) over the flattened tokens (a Mamba stand-in, not Mamba)",
        paper=PAPER, functional=f"{_PKG}.recurrence:linear_recurrence")
    add("dataset", "synthetic_membranes", target=f"{_PKG}.membranes:SyntheticMembranes",
        config=f"{_CFG}:MembranesConfig",
        summary="EM-like images: Voronoi cells with dark 1-2 px membranes on a bright textured interior, blur, "
        "Poisson + Gaussian noise; unlabelled images for pre-training, (image, boundary, instances) for a few-label "
        "fine-tuning split",
        paper=PAPER, functional=f"{_PKG}.membranes:render_membranes")
    add("task", "em_boundary", target=f"{_PKG}.metrics:EMBoundary", config=f"{_CFG}:EMBoundaryConfig",
        summary="boundary segmentation: BCE on the boundary logit; boundary Dice, and ARAND / VOI of the "
        "connected components of the predicted interior (skimage)",
        paper=PAPER, functional=f"{_PKG}.metrics:segmentation_scores")
    add("analyzer", "em_seg_metrics", target=f"{_PKG}.metrics:EMSegMetrics", config=f"{_CFG}:EMSegMetricsConfig",
        summary="boundary Dice plus ARAND and VOI of the connected components of the predicted interior "
        "(skimage.metrics.adapted_rand_error / variation_of_information), means over images",
        paper=PAPER, functional=f"{_PKG}.metrics:segmentation_scores")
    # `forwardkit reproduce tokenunify` runs this spec (read without torch: a module path, not an object)
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
