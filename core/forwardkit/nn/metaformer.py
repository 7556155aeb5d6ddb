"""MetaFormer blocks and stages (Yu et al. 2022, "MetaFormer Is Actually What You Need for Vision", sec. 3;
Yu et al. 2023, "MetaFormer Baselines for Vision", sec. 3), on channels-last tokens ``(B, *spatial, C)``,
with any token and channel mixers; and the build-time checks of a mixer against the tokens it will get.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from forwardkit.errors import ConfigError, ConfigIssue
from forwardkit.nn.norms import NormArg, make_norm
from forwardkit.nn.residual import DropPath, optional_scale

__all__ = ["MetaFormerBlock", "MetaFormerStage", "check_ranks", "check_supports", "format_grid", "init_weights"]

_LAYOUTS = {1: "(B, N, C) sequences", 2: "(B, H, W, C) images", 3: "(B, T, H, W, C) videos"}


class MetaFormerBlock(nn.Module):
    """One MetaFormer block on ``(B, *spatial, C)`` (MetaFormer eq. 1-2 with the scales of the
    baselines paper, eq. 3)::

        x = rs1 * x + ls1 * DropPath(token_mixer(norm1(x)))
        x = rs2 * x + ls2 * DropPath(channel_mixer(norm2(x)))

    ``ls`` (LayerScale, per channel, on the branch) exists only when ``layer_scale_init`` is not None,
    ``rs`` (ResScale, per channel, on the shortcut) only when ``res_scale_init`` is not None; absent
    scales are :class:`torch.nn.Identity`. ``norm`` is a :func:`~forwardkit.nn.make_norm` name or a factory
    ``dim -> module``.
    """

    def __init__(
        self,
        *,
        dim: int,
        token_mixer: nn.Module,
        channel_mixer: nn.Module,
        norm: NormArg = "layernorm_nobias",
        norm_eps: float = 1e-6,
        layer_scale_init: float | None = None,
        res_scale_init: float | None = None,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm1 = make_norm(norm, dim, norm_eps)
        self.token_mixer = token_mixer
        self.layer_scale1 = optional_scale(dim, layer_scale_init)
        self.res_scale1 = optional_scale(dim, res_scale_init)
        self.norm2 = make_norm(norm, dim, norm_eps)
        self.channel_mixer = channel_mixer
        self.layer_scale2 = optional_scale(dim, layer_scale_init)
        self.res_scale2 = optional_scale(dim, res_scale_init)
        self.drop_path = DropPath(p=drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = self.res_scale1(x) + self.layer_scale1(self.drop_path(self.token_mixer(self.norm1(x))))
        return self.res_scale2(x) + self.layer_scale2(self.drop_path(self.channel_mixer(self.norm2(x))))


class MetaFormerStage(nn.Module):
    """An optional downsampling layer, then ``depth`` :class:`MetaFormerBlock` s of width ``dim``.

    ``token_mixer`` and ``channel_mixer`` are factories called once per block (e.g.
    ``lambda: spec.build_for_input(grid, dim=dim)``); ``drop_path`` is one rate or one per block.
    Input ``(B, *spatial, C_prev)``, output ``(B, *spatial', dim)``.
    """

    def __init__(
        self,
        *,
        dim: int,
        depth: int,
        token_mixer: Callable[[], nn.Module],
        channel_mixer: Callable[[], nn.Module],
        downsample: nn.Module | None = None,
        norm: NormArg = "layernorm_nobias",
        norm_eps: float = 1e-6,
        layer_scale_init: float | None = None,
        res_scale_init: float | None = None,
        drop_path: float | Sequence[float] = 0.0,
    ) -> None:
        super().__init__()
        rates = [float(drop_path)] * depth if isinstance(drop_path, (int, float)) else [float(r) for r in drop_path]
        if len(rates) != depth:
            raise ValueError(f"drop_path lists {len(rates)} rates for {depth} blocks")
        self.downsample = downsample if downsample is not None else nn.Identity()
        self.blocks = nn.Sequential(
            *(
                MetaFormerBlock(
                    dim=dim,
                    token_mixer=token_mixer(),
                    channel_mixer=channel_mixer(),
                    norm=norm,
                    norm_eps=norm_eps,
                    layer_scale_init=layer_scale_init,
                    res_scale_init=res_scale_init,
                    drop_path=rate,
                )
                for rate in rates
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(self.downsample(x))


def check_ranks(module: nn.Module, rank: int, where: str, *, loc: str = "") -> None:
    """Raise a :class:`~forwardkit.errors.ConfigError` (a ``ValueError``; the CLI exits 2) naming ``where``
    when ``module.ranks`` (if declared) excludes ``rank``; ``loc`` is the config field to blame."""
    ranks = getattr(module, "ranks", None)
    if ranks is not None and rank not in ranks:
        raise ConfigError([ConfigIssue(loc, (
            f"{where} supports spatial ranks {sorted(ranks)}, but this model gives it rank-{rank} tokens "
            f"{_LAYOUTS.get(rank, '')}; choose a mixer that supports this rank"
        ))])


def check_supports(
    module: nn.Module, spatial: Sequence[int | None], where: str, *, loc: str = "", detail: str = ""
) -> None:
    """Raise a :class:`~forwardkit.errors.ConfigError` naming ``where`` and the grid when
    ``module.supports(spatial)`` is False (``detail`` is appended to the message, e.g. where the grid
    comes from). Does nothing for a module without ``supports`` or a grid with an unknown (None) axis:
    ``supports`` is only ever asked about concrete shapes."""
    supports = getattr(module, "supports", None)
    grid = tuple(spatial)
    if supports is None or any(s is None for s in grid):
        return
    if not supports(grid):
        raise ConfigError([ConfigIssue(loc, (
            f"{where} does not support the {format_grid(grid)} token grid it would get ({type(module).__name__}"
            f".supports({grid}) is False){detail}; choose another mixer, mixer settings or input size"
        ))])


def format_grid(grid: Sequence[int | None]) -> str:
    """``(3, 4) -> "3 x 4"`` (``?`` for an unknown axis), for messages."""
    return " x ".join("?" if s is None else str(s) for s in grid)


def init_weights(module: nn.Module) -> None:
    """MetaFormer init (for ``model.apply``): trunc_normal(std 0.02) weights of Linear/Conv/Embedding,
    zero biases."""
    if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        bias = getattr(module, "bias", None)
        if isinstance(bias, Tensor):
            nn.init.zeros_(bias)
