"""Registration of the widenet components (import paths only, no torch)."""

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper

PAPER = Paper(title="Go Wider Instead of Deeper", arxiv="2107.11817", url="https://arxiv.org/abs/2107.11817",
              year=2022)
_P = "forwardkit_widenet"
_C = f"{_P}.config"


@hookimpl
def forwardkit_register(registry):
    add = registry.add
    add("channel_mixer", "moe_ffn", target=f"{_P}.moe:MoEFFN", config=f"{_C}:MoEFFNConfig", paper=PAPER,
        summary="top-k mixture-of-experts FFN (noisy router, capacity, dropped tokens, load-balance loss), "
                "sort/gather dispatch with a paper-literal dense reference",
        functional=f"{_P}.dispatch:sorted_moe")
    add("adapter", "widenet", target=f"{_P}.adapter:WideNetAdapter", config=f"{_C}:WideNetAdapterConfig",
        paper=PAPER, functional=f"{_P}.sharing:widen",
        summary="WideNet surgery on MetaFormer stacks: shared attention and shared MoE FFN across depth, "
                "per-block LayerNorms; loss() adds the load-balance term")
    add("model", "widenet_vit", target=f"{_P}.vit:WideNetViT", config=f"{_C}:WideNetViTConfig", paper=PAPER,
        summary="WideNet-ViT (shared attention + shared MoE, individual LayerNorms) and its ViT / ALBERT / "
                "ViT-MoE baselines; presets widenet_b/l/h, vit_b/l/h")
    add("learning_rule", "moe_aux_loss", target=f"{_P}.aux_loss:MoEAuxLoss", config=f"{_C}:MoEAuxLossConfig",
        paper=PAPER, summary="another rule (backprop) on the task loss + lambda * sum of the MoE load-balance "
                             "losses of every MoE call")
    add("analyzer", "expert_load", target=f"{_P}.analyzer:ExpertLoadAnalyzer", config=f"{_C}:ExpertLoadConfig",
        paper=PAPER, summary="per-block expert load, load entropy, dropped-token rate and routing agreement "
                             "between blocks of every MoE layer")
    registry.add_reproduction(spec=f"{_P}.reproduction:SPEC")
