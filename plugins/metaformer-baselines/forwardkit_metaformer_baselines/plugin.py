"""Registration of the metaformer-baselines components (no torch import here: only import paths).

The identity and attention token mixers of the paper are the builtin ``identity`` and ``attention``;
the backbone is the builtin ``metaformer``. This plugin adds the other mixers, the StarReLU MLP and the
five model presets.
"""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(
    title="MetaFormer Baselines for Vision",
    arxiv="2210.13452",
    url="https://arxiv.org/abs/2210.13452",
    year=2022,
)
_PKG = "forwardkit_metaformer_baselines"
_CFG = f"{_PKG}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add(
        "token_mixer",
        "pooling",
        target=f"{_PKG}.pooling:Pooling",
        config=f"{_CFG}:PoolingConfig",
        summary="PoolFormer mixer avgpool(x) - x (stride 1, valid-count average), ranks 1-3, channels-last",
        paper=PAPER,
        functional=f"{_PKG}.pooling:pool_mix",
    )
    add(
        "token_mixer",
        "random_mixing",
        target=f"{_PKG}.random_mixing:RandomMixing",
        config=f"{_CFG}:RandomMixingConfig",
        summary="RandFormer mixer: frozen row-softmax random N x N matrix over the flattened tokens (a buffer)",
        paper=PAPER,
        functional=f"{_PKG}.random_mixing:random_mix",
    )
    add(
        "token_mixer",
        "sepconv",
        target=f"{_PKG}.sepconv:SepConv",
        config=f"{_CFG}:SepConvConfig",
        summary="ConvFormer mixer: Linear -> StarReLU -> depthwise 7x7 conv -> Linear (inverted separable conv)",
        paper=PAPER,
        functional=f"{_PKG}.sepconv:sepconv_mix",
    )
    add(
        "channel_mixer",
        "starrelu_mlp",
        target=f"{_PKG}.mlp:StarReLUMLP",
        config=f"{_CFG}:StarReLUMLPConfig",
        summary="MetaFormer-baselines MLP: Linear -> StarReLU s*relu(x)^2+b -> Linear, no biases",
        paper=PAPER,
    )
    presets = {
        "identityformer": ("IdentityFormer", "identity mixers in every stage"),
        "randformer": ("RandFormer", "identity in stages 1-2, frozen random mixing in stages 3-4"),
        "poolformerv2": ("PoolFormerV2", "pooling mixers in every stage"),
        "convformer": ("ConvFormer", "separable-conv mixers in every stage"),
        "caformer": ("CAFormer", "separable conv in stages 1-2, self-attention in stages 3-4"),
    }
    for name, (cls, what) in presets.items():
        add(
            "model",
            name,
            target=f"{_PKG}.model:{cls}",
            config=f"{_CFG}:{cls}Config",
            summary=f"{cls} preset of the builtin metaformer ({what}); sizes tiny .. paper sizes",
            paper=PAPER,
            functional=f"{_PKG}.model:build_preset",
        )
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
