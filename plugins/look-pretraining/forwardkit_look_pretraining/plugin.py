"""Registration of the look-pretraining components (no torch import here: only import paths)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(
    title="Rethinking Supervised Pre-training for Better Downstream Transferring",
    arxiv="2110.06014",
    year=2022,
    url="https://openreview.net/forum?id=Jjcv9MTqhcq",
)
_PKG = "forwardkit_look_pretraining"
_CFG = f"{_PKG}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("learning_rule", "look_loss", target=f"{_PKG}.rule:LookRule", config=f"{_CFG}:LookLossConfig",
        summary="LOOK pre-training: leave-one-out weighted kNN loss -log p_i over a memory bank (own slot "
        "excluded, top-k of exp(s/tau), momentum bank update), a projection MLP on the head's input, kNN "
        "prediction; chunked top-k for large banks",
        paper=PAPER, functional=f"{_PKG}.knn:look_loss")
    add("learning_rule", "ce_baseline", target=f"{_PKG}.rule:CEBaseline", config=f"{_CFG}:CEBaselineConfig",
        summary="the card's baseline: cross-entropy pre-training on the model's linear head, with look_loss's "
        "optimizer loop (the two differ in the loss only)",
        paper=PAPER)
    add("analyzer", "intra_class_modes", target=f"{_PKG}.modes:IntraClassModes",
        config=f"{_CFG}:IntraClassModesConfig",
        summary="intra-class structure of a backbone's features: fine-label k-NN and logistic-probe accuracy, "
        "within/between-class cosine-distance ratio, sub-class spread and k-NN purity inside each coarse class",
        paper=PAPER, functional=f"{_PKG}.modes:intra_class_modes")
    add("dataset", "coarse_label_digits", target=f"{_PKG}.data:CoarseLabelDigits",
        config=f"{_CFG}:CoarseLabelDigitsConfig",
        summary="mnist5k (or sklearn digits) with a coarse upstream label (parity, <5, pairs) and the fine digit "
        "label, dataset indices for a memory bank, and a few-per-class training subset for probes",
        paper=PAPER, functional=f"{_PKG}.data:coarse_labels")
    add("model", "look_cnn", target=f"{_PKG}.model:LookCNN", config=f"{_CFG}:LookCNNConfig",
        summary="the card's reference 4-block CNN (32-64-128-128, BN, ReLU, 2x2 max-pool after blocks 1-3, global "
        "average pool) with a linear head; norm_eval for probes on a frozen backbone",
        paper=PAPER)
    # `forwardkit reproduce look-pretraining` runs this spec (read without torch: a module path, not an object)
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
