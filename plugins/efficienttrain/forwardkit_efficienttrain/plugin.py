"""Registration of the efficienttrain components (no torch import here: only import paths)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(
    title="EfficientTrain: Exploring Generalized Curriculum Learning for Training Visual Backbones",
    arxiv="2211.09703",
    year=2023,
    url="https://github.com/LeapLabTHU/EfficientTrain",
)
_PKG = "forwardkit_efficienttrain"
_CFG = f"{_PKG}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("callback", "efficienttrain_curriculum", target=f"{_PKG}.curriculum:EfficientTrainCurriculum",
        config=f"{_CFG}:CurriculumConfig",
        summary="the generalised curriculum over any run: per stage of the budget, augment the batch at magnitude m, "
        "then low-frequency-crop it to B x B (v1: B/H 5/7,5/7,5/7,6/7,1, m 1,3,5,7,9); EfficientTrain++ "
        "equal-compute mode; a compute ledger",
        paper=PAPER, functional=f"{_PKG}.schedule:stage_epochs")
    add("adapter", "low_freq_crop", target=f"{_PKG}.crop:LowFreqCropAdapter", config=f"{_CFG}:LowFreqCropConfig",
        summary="feeds a model the B x B low-frequency crop of its images: fft2, keep frequencies -B/2..B/2-1, "
        "ifft2 x (B/H)^2, real part (the official freq_crop); matmul fast path; Lanczos (++)",
        paper=PAPER, functional=f"{_PKG}.crop:low_freq_crop")
    add("callback", "magnitude_augment", target=f"{_PKG}.augment:MagnitudeAugment",
        config=f"{_CFG}:MagnitudeAugmentConfig",
        summary="RandAugment-like batch augmentation with one magnitude m in [0, 10]: 2 of rotate (3m deg), "
        "translate (m/30), scale (1 +/- m/40), noise (m/100) per image (our design, not timm's)",
        paper=PAPER, functional=f"{_PKG}.augment:magnitude_augment")
    add("analyzer", "compute_ledger", target=f"{_PKG}.ledger:ComputeLedgerAnalyzer",
        config=f"{_CFG}:ComputeLedgerConfig",
        summary="the run's compute: sample-weighted (B/H)^2 from the curriculum's ledger (0.653 for v1), the "
        "measured MACs at each B, and the wall-clock speed-up estimated from the run's own step times",
        paper=PAPER, functional=f"{_PKG}.schedule:relative_compute")
    add("model", "efficienttrain_cnn", target=f"{_PKG}.model:EfficientTrainCNN",
        config=f"{_CFG}:EfficientTrainCNNConfig",
        summary="the card's reference model: 5 x conv3x3-BN-ReLU (32-32-64-64-128, strides 1-2-1-2-2), global "
        "average pooling, linear head; any input resolution",
        paper=PAPER)
    # `forwardkit reproduce efficienttrain` runs this spec (read without torch: a module path, not an object)
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
