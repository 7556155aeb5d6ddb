"""Registration of the cfsr components (import paths only, no torch).

The data (``sr_patches``) and the task (``image_restoration``: PSNR/SSIM on Y) come from forwardkit-datasets,
used by name.
"""

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper

PAPER = Paper(title="Transforming Image Super-Resolution: A ConvFormer-based Efficient Approach (CFSR)",
              arxiv="2401.05633", url="https://github.com/Aitical/CFSR", year=2024)
_P = "forwardkit_cfsr"


@hookimpl
def forwardkit_register(registry):
    registry.add("token_mixer", "conv_modulation", target=f"{_P}.conv_modulation:ConvModulation",
                 config=f"{_P}.config:ConvModulationConfig", paper=PAPER,
                 summary="CFSR's ConvMod: W_o(DW_9(GELU(W_a x)) * W_v x), large-kernel modulation, a 3x3 branch "
                 "merged into the 9x9 for inference",
                 functional=f"{_P}.conv_modulation:conv_modulation")
    registry.add("channel_mixer", "edge_ffn", target=f"{_P}.edge_ffn:EdgeFFN", config=f"{_P}.config:EdgeFFNConfig",
                 paper=PAPER,
                 summary="CFSR's edge-preserving FFN (EFN): GELU(W_1 x), + GELU(DW_3 + Sobel/Laplacian branches), "
                 "W_2 (not pointwise; branches fold into the 3x3)",
                 functional=f"{_P}.edge_ffn:edge_ffn")
    registry.add("model", "cfsr", target=f"{_P}.cfsr:CFSR", config=f"{_P}.config:CFSRConfig", paper=PAPER,
                 summary="CFSR super-resolution network (ConvMod + EFN blocks, pixel-shuffle upsampler); presets "
                 "cfsr_x2/x3/x4 (291K/298K/307K params merged, as released) and cfsr_tiny")
    registry.add("model", "sr_cnn", target=f"{_P}.baselines:SRCNN", config=f"{_P}.config:SRCNNConfig", paper=PAPER,
                 summary="plain CNN SR baseline: 5 conv3x3+ReLU, pixel shuffle, + bicubic (as many params as "
                 "cfsr_tiny)", functional=f"{_P}.baselines:bicubic_sr")
    registry.add("compressor", "merge_branches", target=f"{_P}.merge:MergeBranches",
                 config=f"{_P}.config:MergeBranchesConfig", paper=PAPER,
                 summary="folds CFSR's EFN edge branches and ConvMod's small kernel into single depthwise convs "
                 "(exact; released parameter count)", functional=f"{_P}.merge:merge_model")
    registry.add("analyzer", "sr_metrics", target=f"{_P}.analyzer:SRMetrics", config=f"{_P}.config:SRMetricsConfig",
                 paper=PAPER,
                 summary="Y-channel PSNR/SSIM of an SR model vs bicubic, per held-out photo (or given batches)",
                 functional=f"{_P}.analyzer:sr_scores")
    registry.add_reproduction(spec=f"{_P}.reproduction:SPEC")
