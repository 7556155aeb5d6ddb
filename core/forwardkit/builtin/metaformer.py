"""The MetaFormer backbone (Yu et al. 2022, "MetaFormer Is Actually What You Need for Vision", sec. 3;
Yu et al. 2023, "MetaFormer Baselines for Vision", sec. 3) with pluggable token and channel mixers.

Every tensor between the stem and the head is channels-last ``(B, *spatial, C)``; only the convs of
the stem and of the downsampling layers see ``(B, C, *spatial)``. The pieces (:class:`MetaFormerBlock`,
:class:`MetaFormerStage`, :class:`Stem`, :class:`Downsample`, :class:`MlpHead`,
:func:`drop_path_schedule`, :func:`check_ranks`, :func:`init_weights`) are public so that a plugin's
own model can reuse them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, cast

import torch
from torch import Tensor, nn

from forwardkit.builtin.config import MetaFormerConfig
from forwardkit.builtin.layers import DropPath, Scale, SquaredReLU, make_norm
from forwardkit.interfaces import Model

NormArg = str | Callable[[int], nn.Module]
_CONVS: dict[int, type[nn.Module]] = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def _make_norm(norm: NormArg, dim: int, eps: float) -> nn.Module:
    return make_norm(norm, dim, eps) if isinstance(norm, str) else norm(dim)


def _scale(dim: int, init: float | None) -> nn.Module:
    return nn.Identity() if init is None else Scale(dim, init)


class ChannelsLastConv(nn.Module):
    """A Conv1d/2d/3d (by spatial rank) applied to ``(B, *spatial, C_in)``, returning
    ``(B, *spatial', C_out)``: the tensor is permuted to channels-first around ``self.conv`` only."""

    def __init__(self, rank: int, in_dim: int, out_dim: int, kernel_size: int, stride: int, padding: int) -> None:
        super().__init__()
        if rank not in _CONVS:
            raise ValueError(f"spatial rank must be 1, 2 or 3, got {rank}")
        self.conv = _CONVS[rank](in_dim, out_dim, kernel_size, stride=stride, padding=padding)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x.movedim(-1, 1)).movedim(1, -1)


class Stem(nn.Module):
    """Patch embedding: ``(B, *spatial, C_in) -> (B, *spatial / stride, dim)`` by a conv with padding
    ``(k - s + 1) // 2`` (k7 s4 p2 in the paper), or ``(B, N) int ids -> (B, N, dim)`` by an embedding
    when ``vocab_size`` is given; then a channel LayerNorm without bias."""

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
            self.proj = ChannelsLastConv(rank, in_channels, dim, kernel_size, stride, padding)
        self.norm = make_norm("layernorm_nobias", dim, norm_eps)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.proj(x))


class Downsample(nn.Module):
    """Between stages: channel LayerNorm (no bias) on ``(B, *spatial, in_dim)``, then a conv with
    padding ``k // 2`` to ``(B, *spatial / stride, out_dim)`` (MetaFormer baselines, sec. 3)."""

    def __init__(
        self, *, rank: int, in_dim: int, out_dim: int, kernel_size: int = 3, stride: int = 2, norm_eps: float = 1e-6
    ) -> None:
        super().__init__()
        self.norm = make_norm("layernorm_nobias", in_dim, norm_eps)
        self.proj = ChannelsLastConv(rank, in_dim, out_dim, kernel_size, stride, kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.norm(x))


class MetaFormerBlock(nn.Module):
    """One MetaFormer block on ``(B, *spatial, C)`` (MetaFormer eq. 1-2 with the scales of the
    baselines paper)::

        x = rs1 * x + ls1 * DropPath(token_mixer(norm1(x)))
        x = rs2 * x + ls2 * DropPath(channel_mixer(norm2(x)))

    ``ls`` (LayerScale, per channel, on the branch) exists only when ``layer_scale_init`` is not None,
    ``rs`` (ResScale, per channel, on the shortcut) only when ``res_scale_init`` is not None; absent
    scales are :class:`torch.nn.Identity`. ``norm`` is a :func:`make_norm` name or a factory
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
        self.norm1 = _make_norm(norm, dim, norm_eps)
        self.token_mixer = token_mixer
        self.layer_scale1 = _scale(dim, layer_scale_init)
        self.res_scale1 = _scale(dim, res_scale_init)
        self.norm2 = _make_norm(norm, dim, norm_eps)
        self.channel_mixer = channel_mixer
        self.layer_scale2 = _scale(dim, layer_scale_init)
        self.res_scale2 = _scale(dim, res_scale_init)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = self.res_scale1(x) + self.layer_scale1(self.drop_path(self.token_mixer(self.norm1(x))))
        return self.res_scale2(x) + self.layer_scale2(self.drop_path(self.channel_mixer(self.norm2(x))))


class MetaFormerStage(nn.Module):
    """An optional downsampling layer, then ``depth`` :class:`MetaFormerBlock` s of width ``dim``.

    ``token_mixer`` and ``channel_mixer`` are factories called once per block (e.g.
    ``lambda: spec.build(dim=dim)``); ``drop_path`` is one rate or one per block.
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


class MlpHead(nn.Module):
    """MetaFormer baselines' MLP head on pooled features ``(B, C)``: Linear(C, ratio*C) -> SquaredReLU
    -> LayerNorm -> Dropout -> Linear(ratio*C, classes)."""

    def __init__(self, dim: int, num_classes: int, *, mlp_ratio: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        hidden = mlp_ratio * dim
        self.fc1 = nn.Linear(dim, hidden)
        self.act = SquaredReLU()
        self.norm = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.drop(self.norm(self.act(self.fc1(x)))))


def drop_path_schedule(rate: float, depths: Sequence[int]) -> list[list[float]]:
    """Stochastic-depth rates rising linearly from 0 to ``rate`` over all blocks, split per stage."""
    total = sum(depths)
    flat = [rate * i / (total - 1) if total > 1 else 0.0 for i in range(total)]
    out, start = [], 0
    for depth in depths:
        out.append(flat[start : start + depth])
        start += depth
    return out


def check_ranks(module: nn.Module, rank: int, where: str) -> None:
    """Raise a ValueError naming ``where`` when ``module.ranks`` (if declared) excludes ``rank``."""
    ranks = getattr(module, "ranks", None)
    if ranks is not None and rank not in ranks:
        layout = {1: "(B, N, C) sequences", 2: "(B, H, W, C) images", 3: "(B, T, H, W, C) videos"}.get(rank, "")
        raise ValueError(
            f"{where} supports spatial ranks {sorted(ranks)}, but this model gives it rank-{rank} tokens {layout}; "
            "choose a mixer that supports this rank"
        )


def init_weights(module: nn.Module) -> None:
    """MetaFormer init (for ``model.apply``): trunc_normal(std 0.02) weights of Linear/Conv/Embedding,
    zero biases."""
    if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        bias = getattr(module, "bias", None)
        if isinstance(bias, Tensor):
            nn.init.zeros_(bias)


class MetaFormer(Model):
    """Hierarchical MetaFormer: stem, ``len(depths)`` stages (downsampling before stages 2..n), pooled
    head. Input: ``(B, H, W, C_in)`` when ``rank=2``; ``(B, N, C_in)``, or ``(B, N)`` int64 token ids
    with ``vocab_size``, when ``rank=1``. Output: ``(B, num_classes)``, or the final tokens
    ``(B, *spatial', dims[-1])`` when ``num_classes=0``.

    Stage i builds its mixers with ``token_mixers[i].build_for_rank(rank, dim=dims[i])`` (any registered mixer of any
    plugin). Like the official code, :func:`init_weights` is applied to the whole model, mixers
    included. For causal sequence models (``pool='last'``) note that the stem and downsampling convs
    look ahead unless their kernels are 1 (or the stem is an embedding and there is one stage).
    """

    Config = MetaFormerConfig
    config: MetaFormerConfig

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        cfg = self.config
        self.stem = Stem(
            rank=cfg.rank,
            in_channels=cfg.in_channels,
            dim=cfg.dims[0],
            kernel_size=cfg.stem_kernel,
            stride=cfg.stem_stride,
            norm_eps=cfg.norm_eps,
            vocab_size=cfg.vocab_size,
        )
        token_specs, channel_specs = cfg.per_stage("token_mixers"), cfg.per_stage("channel_mixers")
        norms = cfg.per_stage("norm")
        ls_inits, rs_inits = cfg.per_stage("layer_scale_init"), cfg.per_stage("res_scale_init")
        rates = drop_path_schedule(cfg.drop_path_rate, cfg.depths)
        stages = []
        for i, (dim, depth) in enumerate(zip(cfg.dims, cfg.depths, strict=True)):
            downsample = None
            if i > 0:
                downsample = Downsample(
                    rank=cfg.rank,
                    in_dim=cfg.dims[i - 1],
                    out_dim=dim,
                    kernel_size=cfg.downsample_kernel,
                    stride=cfg.downsample_stride,
                    norm_eps=cfg.norm_eps,
                )
            tspec, cspec = token_specs[i], channel_specs[i]
            stage = MetaFormerStage(
                dim=dim,
                depth=depth,
                token_mixer=partial(tspec.build_for_rank, cfg.rank, dim=dim),
                channel_mixer=partial(cspec.build_for_rank, cfg.rank, dim=dim),
                downsample=downsample,
                norm=norms[i],
                norm_eps=cfg.norm_eps,
                layer_scale_init=ls_inits[i],
                res_scale_init=rs_inits[i],
                drop_path=rates[i],
            )
            first = cast(MetaFormerBlock, stage.blocks[0])
            check_ranks(first.token_mixer, cfg.rank, f"stage {i}: token mixer {tspec.name!r}")
            check_ranks(first.channel_mixer, cfg.rank, f"stage {i}: channel mixer {cspec.name!r}")
            stages.append(stage)
        self.stages = nn.Sequential(*stages)
        width = cfg.dims[-1]
        self.norm: nn.Module = nn.Identity()
        self.head: nn.Module = nn.Identity()
        if cfg.num_classes > 0:
            self.norm = nn.LayerNorm(width, eps=cfg.norm_eps)
            if cfg.head == "linear":
                self.head = nn.Linear(width, cfg.num_classes)
            else:
                self.head = MlpHead(width, cfg.num_classes, dropout=cfg.head_dropout)
        self.apply(init_weights)

    def _check_input(self, x: Tensor) -> None:
        cfg = self.config
        if cfg.vocab_size is not None:
            ok, want = x.dim() == 2 and not x.is_floating_point(), "(B, N) integer token ids"
        else:
            ok = x.dim() == cfg.rank + 2 and x.shape[-1] == cfg.in_channels
            want = f"(B, {'N' if cfg.rank == 1 else 'H, W'}, {cfg.in_channels}) channels-last"
        if not ok:
            raise ValueError(f"metaformer expects {want}, got shape {tuple(x.shape)} ({x.dtype})")

    def forward_features(self, x: Tensor) -> Tensor:
        """Stem and stages: input -> final tokens ``(B, *spatial', dims[-1])``."""
        self._check_input(x)
        return self.stages(self.stem(x))

    def forward_head(self, x: Tensor) -> Tensor:
        """Pool tokens ``(B, *spatial, C) -> (B, C)`` (mean, or the last token), norm, head."""
        tokens = x.flatten(1, -2)  # (B, N, C)
        pooled = tokens[:, -1] if self.config.pool == "last" else tokens.mean(1)
        return self.head(self.norm(pooled))

    def forward(self, x: Tensor) -> Tensor:
        x = self.forward_features(x)
        return x if self.config.num_classes == 0 else self.forward_head(x)

    def example_batch(self, batch_size: int = 2, *, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """32x32 images (rank 2) or 64 tokens (rank 1) and integer labels."""
        cfg = self.config
        if cfg.vocab_size is not None:
            x = torch.randint(0, cfg.vocab_size, (batch_size, 64), generator=generator)
        elif cfg.rank == 1:
            x = torch.randn(batch_size, 64, cfg.in_channels, generator=generator)
        else:
            x = torch.randn(batch_size, 32, 32, cfg.in_channels, generator=generator)
        y = torch.randint(0, max(cfg.num_classes, 1), (batch_size,), generator=generator)
        return {"x": x, "y": y}
