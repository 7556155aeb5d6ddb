"""Registration of the self-expanding CNN components (import paths only, no torch)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(title="Self Expanding Convolutional Neural Networks", arxiv="2401.05686", year=2024)
_P = "forwardkit_self_expanding_cnn"
_C = f"{_P}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    registry.add("model", "expandable_cnn", target=f"{_P}.model:ExpandableCNN", config=f"{_C}:ExpandableCNNConfig",
                 paper=PAPER, functional=f"{_P}.model:build_snapshot",
                 summary="block-based CNN (conv3x3-BN-LeakyReLU blocks, pooling, skip from block 1, 1x1 head, FC) "
                         "that grows in place: identity layers and wider blocks, function-preserving")
    registry.add("analyzer", "natural_expansion_score", target=f"{_P}.score:NaturalExpansionScore",
                 config=f"{_C}:NaturalExpansionScoreConfig", paper=PAPER,
                 functional=f"{_P}.score:natural_expansion_score",
                 summary="natural expansion score eta = g^T diag(F)^-1 g on a data subset, and eta_reg of every "
                         "candidate expansion of an expandable model")
    registry.add("callback", "self_expansion", target=f"{_P}.expansion:SelfExpansion",
                 config=f"{_C}:SelfExpansionConfig", paper=PAPER, functional=f"{_P}.expansion:decide",
                 summary="grows the model at epoch ends by the natural expansion score (tau, cooldown, layer vs "
                         "channel rule of Sec. 3.1); works with backprop (on_model_change: keep_state)")
    registry.add_reproduction(spec=f"{_P}.reproduction:SPEC")
