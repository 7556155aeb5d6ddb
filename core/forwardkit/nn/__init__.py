"""Building blocks for components, on channels-last tokens ``(B, *spatial, C)`` (imports torch).

The public layers plugins build on, one module per family:

| module | what it holds |
|---|---|
| :mod:`forwardkit.nn.attention` | multi-head attention (fused and paper-literal), heads, class-token attention |
| :mod:`forwardkit.nn.masks` | causal, block-causal, local, window and neighbourhood masks; additive/combined masks |
| :mod:`forwardkit.nn.position` | sinusoidal and learned position encodings, relative position bias |
| :mod:`forwardkit.nn.projections` | per-token projections (Linear = 1x1 conv) on the fastest CPU kernel for the shape |
| :mod:`forwardkit.nn.mlp` | the feed-forward network (any activation), MetaFormer's MLP head |
| :mod:`forwardkit.nn.norms` | norms by name: LayerNorm (and scale-only), GroupNorm1, RMSNorm, BatchNorm |
| :mod:`forwardkit.nn.activations` | activations by name |
| :mod:`forwardkit.nn.residual` | DropPath (stochastic depth), LayerScale/ResScale (:class:`Scale`) |
| :mod:`forwardkit.nn.conv` | channels-last convs of rank 1-3: patch embedding, stem, downsampling |
| :mod:`forwardkit.nn.metaformer` | MetaFormer block and stage; build-time rank/grid checks of mixers |
| :mod:`forwardkit.nn.resnet` | ResNet basic and bottleneck blocks (channels-first inside a model) |

Every name is importable from ``forwardkit.nn`` itself.
"""

from forwardkit.nn.activations import ACTIVATIONS, ActivationArg, SquaredReLU, make_activation
from forwardkit.nn.attention import (
    Backend,
    MultiHeadAttention,
    attention_reference,
    attention_scores,
    class_token_attention,
    merge_heads,
    multi_head_attention,
    project_qkv,
    scaled_dot_product_attention,
    split_heads,
)
from forwardkit.nn.conv import ChannelsLastConv, Downsample, PatchEmbed, Stem, conv_output_size
from forwardkit.nn.masks import (
    additive_mask,
    block_causal_mask,
    causal_mask,
    combine_masks,
    grid_coordinates,
    local_mask,
    neighborhood_mask,
    window_mask,
)
from forwardkit.nn.metaformer import (
    MetaFormerBlock,
    MetaFormerStage,
    check_ranks,
    check_supports,
    format_grid,
    init_weights,
)
from forwardkit.nn.mlp import FeedForward, MlpHead, hidden_width
from forwardkit.nn.norms import (
    NORMS,
    ChannelsLastBatchNorm,
    GroupNorm1,
    NormArg,
    RMSNorm,
    group_norm1,
    group_norm1_reference,
    make_norm,
)
from forwardkit.nn.position import (
    LearnedPositionEmbedding,
    RelativePositionBias,
    SinusoidalPositionEncoding,
    relative_position_index,
    sinusoidal_position_encoding,
)
from forwardkit.nn.projections import (
    Pointwise,
    PointwiseBackend,
    load_pointwise_choices,
    pointwise,
    pointwise_backend,
    pointwise_choices,
    pointwise_kernel,
    pointwise_reference,
)
from forwardkit.nn.residual import DropPath, Scale, drop_path, drop_path_schedule, optional_scale
from forwardkit.nn.resnet import BasicBlock, Bottleneck, make_norm2d

__all__ = [
    "ACTIVATIONS",
    "NORMS",
    "ActivationArg",
    "Backend",
    "BasicBlock",
    "Bottleneck",
    "ChannelsLastBatchNorm",
    "ChannelsLastConv",
    "DropPath",
    "Downsample",
    "FeedForward",
    "GroupNorm1",
    "LearnedPositionEmbedding",
    "MetaFormerBlock",
    "MetaFormerStage",
    "MlpHead",
    "MultiHeadAttention",
    "NormArg",
    "PatchEmbed",
    "Pointwise",
    "PointwiseBackend",
    "RMSNorm",
    "RelativePositionBias",
    "Scale",
    "SinusoidalPositionEncoding",
    "SquaredReLU",
    "Stem",
    "additive_mask",
    "attention_reference",
    "attention_scores",
    "block_causal_mask",
    "causal_mask",
    "check_ranks",
    "check_supports",
    "class_token_attention",
    "combine_masks",
    "conv_output_size",
    "drop_path",
    "drop_path_schedule",
    "format_grid",
    "grid_coordinates",
    "group_norm1",
    "group_norm1_reference",
    "hidden_width",
    "init_weights",
    "local_mask",
    "make_activation",
    "load_pointwise_choices",
    "make_norm",
    "make_norm2d",
    "merge_heads",
    "multi_head_attention",
    "neighborhood_mask",
    "optional_scale",
    "pointwise",
    "pointwise_backend",
    "pointwise_choices",
    "pointwise_kernel",
    "pointwise_reference",
    "project_qkv",
    "relative_position_index",
    "scaled_dot_product_attention",
    "sinusoidal_position_encoding",
    "split_heads",
    "window_mask",
]
