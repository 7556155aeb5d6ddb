"""Registration of the selfie components (no torch import here: only import paths)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(
    title="Selfie: Self-supervised Pretraining for Image Embedding",
    arxiv="1906.02940",
    year=2019,
    url="https://arxiv.org/abs/1906.02940",
)
_PKG = "forwardkit_selfie"
_CFG = f"{_PKG}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("model", "selfie_pretrainer", target=f"{_PKG}.pretrainer:SelfiePretrainer",
        config=f"{_CFG}:SelfiePretrainerConfig",
        summary="Selfie's pre-training network: a conv patch network P on every patch of a G x G grid, attention "
        "pooling of the visible patches into u, factorised position embeddings row(r) + col(c); with batch key "
        "'masked' it returns the candidate logits (u + pos_i) . h_t",
        paper=PAPER, functional=f"{_PKG}.patches:patchify_grid")
    add("learning_rule", "selfie_rule", target=f"{_PKG}.rule:SelfieRule", config=f"{_CFG}:SelfieRuleConfig",
        summary="Selfie's pretext: per image, hide num_masked random patches, and classify which of the hidden "
        "patches (the same image's only) belongs at each hidden location; softmax cross-entropy, labels unused",
        paper=PAPER, functional=f"{_PKG}.loss:selfie_loss")
    add("adapter", "transfer_patch_net", target=f"{_PKG}.transfer:TransferPatchNet",
        config=f"{_CFG}:TransferPatchNetConfig",
        summary="copies a pre-trained patch network's conv weights (saved pretrainer state) into the stem of a "
        "selfie_classifier by exact name, optionally frozen (a probe of the rest)",
        paper=PAPER, functional=f"{_PKG}.transfer:transfer_patch_net")
    add("model", "selfie_classifier", target=f"{_PKG}.classifier:SelfieClassifier",
        config=f"{_CFG}:SelfieClassifierConfig",
        summary="the fine-tuned network: the patch network's conv trunk on the whole image (its stem, named "
        "patch_net so weights carry by name), two more conv blocks (128, stride 2), global pooling, linear head",
        paper=PAPER)
    # `forwardkit reproduce selfie` runs this spec (read without torch: a module path, not an object)
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
