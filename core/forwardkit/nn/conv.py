"""Convolutions on channels-last tokens for spatial ranks 1-3: patch embedding, stems, downsampling.

Every module takes ``(B, *spatial, C_in)`` and returns ``(B, *spatial', C_out)``; only the wrapped
``torch.nn.Conv1d/2d/3d`` sees channels-first ``(B, C, *spatial)``. Each has ``output_size(spatial)``,
the grid it produces from a grid (``None`` for an axis whose size is unknown), so that a model can tell
its mixers their input grid before it builds them.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from forwardkit.nn.norms import NormArg, make_norm

__all__ = ["ChannelsLastConv", "Downsample", "PatchEmbed", "Stem", "conv_output_size"]

_CONVS: dict[int, type[nn.Conv1d | nn.Conv2d | nn.Conv3d]] = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def conv_output_size(size: int | None, *, kernel_size: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int | None:
    """Length of one axis after a convolution: ``floor((size + 2 padding - dilation (k - 1) - 1) / stride) + 1``
    (the formula of :class:`torch.nn.Conv2d`); ``None`` stays ``None``. May be ``<= 0`` when the padded
    axis is shorter than the kernel (the convolution would fail)."""
    if size is None:
        return None
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


class ChannelsLastConv(nn.Module):
    """A Conv1d/2d/3d (by spatial ``rank``) applied to ``(B, *spatial, in_dim)``, returning
    ``(B, *spatial', out_dim)``: the tensor is permuted to channels-first around ``self.conv`` only.
    ``groups=in_dim`` makes it depthwise."""

    def __init__(
        self,
        *,
        rank: int,
        in_dim: int,
        out_dim: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if rank not in _CONVS:
            raise ValueError(f"spatial rank must be 1, 2 or 3, got {rank}")
        self.conv = _CONVS[rank](in_dim, out_dim, kernel_size, stride=stride, padding=padding, groups=groups,
                                 bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x.movedim(-1, 1)).movedim(1, -1)

    def output_size(self, spatial: Sequence[int | None]) -> tuple[int | None, ...]:
        """The output grid for an input grid (see :func:`conv_output_size`)."""
        conv = self.conv
        return tuple(
            conv_output_size(s, kernel_size=k, stride=st, padding=p, dilation=d)  # type: ignore[arg-type]
            for s, k, st, p, d in zip(spatial, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                                      strict=True)
        )


class PatchEmbed(ChannelsLastConv):
    """Non-overlapping patch embedding (Dosovitskiy et al. 2021, ViT eq. 1, the projection E of flattened
    patches): a conv with kernel = stride = ``patch_size`` and no padding maps ``(B, *spatial, in_channels)``
    to ``(B, *spatial / patch_size, dim)``, then ``norm`` (None: none, and no parameters). The conv is
    ``self.conv``, so the state_dict keys are ``conv.weight``, ``conv.bias`` (and ``norm.*``)."""

    def __init__(
        self,
        *,
        rank: int,
        in_channels: int,
        dim: int,
        patch_size: int,
        norm: NormArg | None = None,
        norm_eps: float = 1e-6,
        bias: bool = True,
    ) -> None:
        super().__init__(rank=rank, in_dim=in_channels, out_dim=dim, kernel_size=patch_size, stride=patch_size,
                         bias=bias)
        self.norm = nn.Identity() if norm is None else make_norm(norm, dim, norm_eps)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(super().forward(x))


class Stem(nn.Module):
    """MetaFormer's patch embedding (Yu et al. 2023, sec. 3): ``(B, *spatial, C_in) -> (B, *spatial / stride,
    dim)`` by a conv with padding ``(k - s + 1) // 2`` (k7 s4 p2 in the paper), or ``(B, N)`` integer ids
    ``-> (B, N, dim)`` by an embedding when ``vocab_size`` is given; then a channel LayerNorm without bias."""

    def __init__(
        self,
        *,
        rank: int,
        in_channels: int,
        dim: int,
        kernel_size: int,
        stride: int,
        norm_eps: float = 1e-6,
        vocab_size: int | None = None,
    ) -> None:
        super().__init__()
        self.proj: nn.Module
        if vocab_size is not None:
            self.proj = nn.Embedding(vocab_size, dim)
        else:
            padding = (kernel_size - stride + 1) // 2
            self.proj = ChannelsLastConv(rank=rank, in_dim=in_channels, out_dim=dim, kernel_size=kernel_size,
                                         stride=stride, padding=padding)
        self.norm = make_norm("layernorm_nobias", dim, norm_eps)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.proj(x))

    def output_size(self, spatial: Sequence[int | None]) -> tuple[int | None, ...]:
        """The token grid for an input grid (an embedding keeps it)."""
        if isinstance(self.proj, ChannelsLastConv):
            return self.proj.output_size(spatial)
        return tuple(spatial)


class Downsample(nn.Module):
    """Between stages (Yu et al. 2023, sec. 3): channel LayerNorm (no bias) on ``(B, *spatial, in_dim)``,
    then a conv with padding ``k // 2`` to ``(B, *spatial / stride, out_dim)``."""

    def __init__(
        self, *, rank: int, in_dim: int, out_dim: int, kernel_size: int = 3, stride: int = 2, norm_eps: float = 1e-6
    ) -> None:
        super().__init__()
        self.norm = make_norm("layernorm_nobias", in_dim, norm_eps)
        self.proj = ChannelsLastConv(rank=rank, in_dim=in_dim, out_dim=out_dim, kernel_size=kernel_size,
                                     stride=stride, padding=kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.norm(x))

    def output_size(self, spatial: Sequence[int | None]) -> tuple[int | None, ...]:
        """The output grid for an input grid."""
        return self.proj.output_size(spatial)
