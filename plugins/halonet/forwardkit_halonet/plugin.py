"""Registration of the halonet components (no torch import here: only import paths)."""

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper

PAPER = Paper(title="Scaling Local Self-Attention for Parameter Efficient Visual Backbones", arxiv="2103.12731",
              year=2021)


@hookimpl
def forwardkit_register(registry):
    registry.add(
        "token_mixer", "halo_attention",
        target="forwardkit_halonet.attention:HaloAttention",
        config="forwardkit_halonet.config:HaloAttentionConfig",
        summary="HaloNet blocked local self-attention: b^r query blocks share a (b+2h)^r haloed window, rel-pos",
        paper=PAPER, functional="forwardkit_halonet.attention:halo_attention",
    )
    registry.add(
        "token_mixer", "sasa_attention",
        target="forwardkit_halonet.attention:SasaAttention",
        config="forwardkit_halonet.config:SasaAttentionConfig",
        summary="SASA centred k^r window self-attention per pixel (HaloNet's speed baseline), rel-pos",
        paper=PAPER, functional="forwardkit_halonet.attention:sasa_attention",
    )
    registry.add(
        "model", "halonet",
        target="forwardkit_halonet.model:HaloNet",
        config="forwardkit_halonet.config:HaloNetConfig",
        summary="HaloNet bottleneck ResNet, halo attention for the 3x3 convs (timm halonet26t / sehalonet33ts / "
        "halonet50ts / eca_halonext26ts / halonet_h1 layouts, exact parameter counts; tiny); strided halo "
        "downsampling",
        paper=PAPER, functional="forwardkit_halonet.model:halonet",
    )
    # HaloDownsample (forwardkit_halonet.downsample) halves the grid, so it is no token mixer: a building block
    # of the halonet model (its strided halo blocks), with its own Config, functional form and conformance run.
    registry.add_reproduction(spec="forwardkit_halonet.reproduction:SPEC")
