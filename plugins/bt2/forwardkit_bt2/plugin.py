"""Registration of the bt2 components (no torch import here: only import paths)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(
    title="BT^2: Backward-compatible Training with Basis Transformation",
    arxiv="2211.03989",
    year=2023,
    url="https://github.com/YifeiZhou02/BT-2",
)
_PKG = "forwardkit_bt2"
_CFG = f"{_PKG}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("adapter", "basis_transform_head", target=f"{_PKG}.basis_transform:BasisTransformAdapter",
        config=f"{_CFG}:BasisTransformHeadConfig",
        summary="replaces a model's classifier by BT^2's head: old branch a = fc3(ReLU(e)), f = e[:, :d_new], "
        "u = [normalize(a[:, :k]), O_p C f], bct = O_2 u[:, :d_old], phi = [bct, u[:, d_old:]] (d_new + k dims, "
        "|phi|^2 = 1 + C^2), logits = W f; O_p, O_2 orthogonal",
        paper=PAPER, functional=f"{_PKG}.basis_transform:attach_basis_transform")
    add("learning_rule", "bt2_rule", target=f"{_PKG}.rules:BT2Rule", config=f"{_CFG}:BT2RuleConfig",
        summary="BT^2's loss on a compat_system: CE(W f) + l3 (1 - cos(bct, phi_old)) + l1 (1 - cos(f, phi_ind)) "
        "+ l2 CE(normalize(bct) P^T) with frozen, cached old / independent embeddings and the pseudo-classifier P",
        paper=PAPER, functional=f"{_PKG}.teachers:pseudo_classifier")
    add("learning_rule", "bct_rule", target=f"{_PKG}.rules:BCTRule", config=f"{_CFG}:BCTRuleConfig",
        summary="the BCT baseline (Shen et al. 2020): CE of the new model + alpha CE of (the prefix of) its "
        "embedding through the pseudo-classifier of old-model class means",
        paper=PAPER, functional=f"{_PKG}.teachers:pseudo_classifier")
    add("analyzer", "compat_retrieval", target=f"{_PKG}.retrieval:CompatRetrieval",
        config=f"{_CFG}:CompatRetrievalConfig",
        summary="the compatibility table: CMC top-k and mAP for (query model, gallery model) pairs (old/old, "
        "new/old, new/new, ...), test set as query and gallery, self-matches excluded, min(dim) prefixes",
        paper=PAPER, functional=f"{_PKG}.retrieval:retrieval_metrics")
    add("model", "compat_system", target=f"{_PKG}.system:CompatSystem", config=f"{_CFG}:CompatSystemConfig",
        summary="a retrieval system's model versions (old, independent new, compatible new, ...) as one model: "
        "forward is the member being trained, the others are frozen references; for multi-stage experiments",
        paper=PAPER)
    add("model", "bt2_cnn", target=f"{_PKG}.cnn:BT2CNN", config=f"{_CFG}:BT2CNNConfig",
        summary="the card's reference CNN: conv3x3-BN-ReLU-maxpool blocks (32-64-128), global pooling, a Linear "
        "embedding (ReLU, L2-normalised), a bias-free classifier",
        paper=PAPER)
    add("dataset", "class_subset", target=f"{_PKG}.subset:ClassSubset", config=f"{_CFG}:ClassSubsetConfig",
        summary="another dataset with some splits restricted to some classes (the old model's training set: "
        "digits 0-4); the metadata keeps every class",
        paper=PAPER)
    # `forwardkit reproduce bt2` runs this spec (read without torch: a module path, not an object)
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
