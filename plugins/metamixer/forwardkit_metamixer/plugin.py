"""Registration of the metamixer components (import paths only, no torch)."""

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper

PAPER = Paper(title="MetaMixer Is All You Need (FFNet: MetaMixer-based Efficient Convolutional Mixer Design)",
              arxiv="2406.02021", url="https://github.com/ysj9909/FFNet", year=2024)
_P = "forwardkit_metamixer"


@hookimpl
def forwardkit_register(registry):
    registry.add("token_mixer", "ffnified_attention", target=f"{_P}.ffnified:FFNifiedAttention",
                 config=f"{_P}.config:FFNifiedAttentionConfig", paper=PAPER,
                 summary="FFNified attention: DW_k2(GELU(DW_k1(W_q x))), attention's QKV form with convs + GELU",
                 functional=f"{_P}.ffnified:ffnified_attention")
    registry.add("token_mixer", "metamixer", target=f"{_P}.metamixer:MetaMixer",
                 config=f"{_P}.config:MetaMixerConfig", paper=PAPER,
                 summary="generic MetaMixer V(act(K(Q(x)))) with pluggable query/key/act/value sub-operations")
    registry.add("channel_mixer", "dwconv_ffn", target=f"{_P}.dwconv_ffn:DWConvFFN",
                 config=f"{_P}.config:DWConvFFNConfig", paper=PAPER,
                 summary="FFNet channel mixer: depthwise conv -> Linear C->3C -> GELU -> Linear (not pointwise)")
    registry.add("model", "ffnet", target=f"{_P}.ffnet:FFNet", config=f"{_P}.config:FFNetConfig", paper=PAPER,
                 summary="FFNet-1..4 (official architecture, BN in branches) and a tiny preset")
    registry.add("compressor", "reparam_fold", target=f"{_P}.reparam:ReparamFold",
                 config=f"{_P}.config:ReparamFoldConfig", paper=PAPER,
                 summary="folds BN and RepVGG 7x7+3x3 branches (and PatchMerging's skip) for inference",
                 functional=f"{_P}.reparam:fold_model")
    registry.add_reproduction(spec=f"{_P}.reproduction:SPEC")
