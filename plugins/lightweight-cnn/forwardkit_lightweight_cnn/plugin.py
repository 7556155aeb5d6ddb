"""Registration of the lightweight-cnn components (import paths only, no torch)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(title="Building Efficient Lightweight CNN Models", arxiv="2501.15547", year=2025)
_P = "forwardkit_lightweight_cnn"
_C = f"{_P}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("model", "tiny_branch_cnn", target=f"{_P}.cnn:TinyBranchCNN", config=f"{_C}:TinyBranchCNNConfig",
        paper=PAPER, functional=f"{_P}.sizes:branch_parameters",
        summary="one small CNN branch: conv layers (same padding, ReLU, optional BN / max-pool), global average "
                "pool, optional linear head; card reference 8-16-24 channels, 4,978 parameters with the head")
    add("model", "dual_io_model", target=f"{_P}.cnn:DualIOModel", config=f"{_C}:DualIOModelConfig", paper=PAPER,
        functional=f"{_P}.sizes:dual_parameters",
        summary="stage 1's dual-input-output model: two independent tiny_branch_cnn, A on x and B on x_aug, "
                "output (B, 2, K)")
    add("model", "unified_model", target=f"{_P}.cnn:UnifiedModel", config=f"{_C}:UnifiedModelConfig", paper=PAPER,
        functional=f"{_P}.sizes:unified_parameters",
        summary="stage 2's unified model: both trunks on the same input, concatenated features, new head "
                "Linear(2F, 96) -> ReLU -> Linear(96, K); 15,130 parameters at the card's reference")
    add("learning_rule", "dual_io_rule", target=f"{_P}.dual_rule:DualIORule", config=f"{_C}:DualIORuleConfig",
        paper=PAPER, functional=f"{_P}.dual_rule:dual_io_loss",
        summary="stage 1: loss = CE(A(x), y) + CE(B(aug(x)), y) with on-the-fly rotation / zoom / translation / "
                "brightness, one Adam over both branches")
    add("callback", "progressive_unfreezing", target=f"{_P}.unfreezing:ProgressiveUnfreezing",
        config=f"{_C}:ProgressiveUnfreezingConfig", paper=PAPER, functional=f"{_P}.unfreezing:apply_phase",
        summary="stage 2: head only, then one layer group per phase unfrozen from the top of each trunk down; "
                "frozen BatchNorm kept in eval mode; the optimizer is rebuilt at each phase")
    add("callback", "lightweight_augment", target=f"{_P}.augment:LightweightAugment",
        config=f"{_C}:AugmentCallbackConfig", paper=PAPER, functional=f"{_P}.augment:augment_images",
        summary="replaces each training batch's images by a random rotation / zoom / translation / brightness of "
                "them (the card's baseline (b))")
    add("compressor", "size_report", target=f"{_P}.size_report:SizeReport", config=f"{_C}:SizeReportConfig",
        paper=PAPER, functional=f"{_P}.size_report:measure",
        summary="identity transform with a measured report: parameters, raw / torch.save / safetensors bytes, "
                "analytic conv+linear MACs, median CPU latency, accuracy")
    registry.add_reproduction(spec=f"{_P}.reproduction:SPEC")
