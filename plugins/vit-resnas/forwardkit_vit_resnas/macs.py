"""Exact MAC counts of ViT-Res networks and sub-networks (torch-free).

The count is the one the official ``network_utils/compute_flop_mac.py`` (``ComputationEstimator`` with
``return_mac=True``) makes and torch's FLOP counter measures (``forwardkit.measure.count_macs``): multiply-
accumulates of the convolutions and matrix products only; biases, norms, softmax, GELU, pooling and additions
are free. Per image, with ``n = T + h*w`` tokens (T class tokens) of width C in a stage:

* linear stem: ``h*w * C * C_in * p^2``; conv stem (m middle channels):
  ``(H/2)^2 * m * C_in * 9 + 2 (H/2)^2 * m^2 * 9 + h*w * C * m * (p/2)^2``;
* block (heads ``a``, head dim ``d``, MLP hidden ``m``): qkv ``3 n C a d``, scores and weighted sum ``2 a d n^2``,
  projection ``n a d C``, MLP ``2 n C m``;
* residual spatial reduction C -> C': conv ``h/2*w/2 * C' * C * k^2``, class tokens ``T C C'``;
* head: ``C * classes`` on the class token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forwardkit_vit_resnas.config import ViTResConfig, ViTResSuperNetConfig


@dataclass(frozen=True)
class NetworkShape:
    """What the MAC count needs of a network: input, stem, class tokens, reduction kernel, widths per stage and
    ``(heads, head_dim, mlp_hidden)`` per block."""

    img_size: int
    in_channels: int
    num_classes: int
    patch: int
    stem: str
    stem_mid: int
    num_cls_tokens: int
    sr_kernel: int
    dims: tuple[int, ...]
    blocks: tuple[tuple[tuple[int, int, int], ...], ...]


def shape_of(cfg: ViTResConfig) -> NetworkShape:
    return NetworkShape(cfg.img_size, cfg.in_channels, cfg.num_classes, cfg.patch, cfg.stem, cfg.stem_mid,
                        cfg.num_cls_tokens, cfg.sr_kernel, tuple(cfg.dims),
                        tuple(tuple(stage) for stage in cfg.block_shapes()))


def arch_shape(config: ViTResSuperNetConfig, arch: Any) -> NetworkShape:
    """The shape of sub-network ``arch`` of a super-network (skipped blocks left out), without building its
    config (fast enough for the search's inner loops)."""
    blocks = tuple(tuple((a // config.head_dims[s], config.head_dims[s], m)
                         for a, m, k in zip(arch.attn[s], arch.mlp[s], arch.keep[s], strict=True) if k)
                   for s in range(len(config.depths)))
    return NetworkShape(config.img_size, config.in_channels, config.num_classes, config.patch, config.stem,
                        config.stem_mid, config.num_cls_tokens, config.sr_kernel, tuple(arch.embed), blocks)


def mac_breakdown(cfg: ViTResConfig | NetworkShape, img_size: int | None = None) -> dict[str, Any]:
    """MACs per image by part: ``stem``, per stage ``attention`` (the ``n^2`` products), ``projections``
    (qkv + output), ``mlp``, and ``reductions``, ``head`` and ``total``."""
    net = cfg if isinstance(cfg, NetworkShape) else shape_of(cfg)
    size = img_size or net.img_size
    grid = size // net.patch
    c, t = net.dims[0], net.num_cls_tokens
    if net.stem == "linear":
        stem = grid * grid * c * net.in_channels * net.patch ** 2
    else:
        half, m = size // 2, net.stem_mid
        stem = (half * half * m * net.in_channels * 9 + 2 * half * half * m * m * 9
                + grid * grid * c * m * (net.patch // 2) ** 2)
    attention, projections, mlp, reductions = [], [], [], []
    for s, blocks in enumerate(net.blocks):
        if s > 0:
            c_in, c = c, net.dims[s]
            grid //= 2
            reductions.append(grid * grid * c * c_in * net.sr_kernel ** 2 + t * c_in * c)
        n = t + grid * grid
        attention.append(sum(2 * a * d * n * n for a, d, _ in blocks))
        projections.append(sum(4 * n * c * a * d for a, d, _ in blocks))
        mlp.append(sum(2 * n * c * m for _, _, m in blocks))
    head = c * net.num_classes
    total = stem + sum(attention) + sum(projections) + sum(mlp) + sum(reductions) + head
    return {"stem": stem, "attention": attention, "projections": projections, "mlp": mlp, "reductions": reductions,
            "head": head, "total": total}


def network_macs(cfg: ViTResConfig | NetworkShape, img_size: int | None = None) -> int:
    """MACs per image of the network ``cfg`` (at ``img_size``, default the config's)."""
    return int(mac_breakdown(cfg, img_size)["total"])


def analytic_macs(model_or_arch: Any, img_size: int | None = None, *,
                  config: ViTResSuperNetConfig | None = None) -> int:
    """MACs per image of a ``ViTRes`` (model or config), a ``ViTResSuperNet`` (its fixed sub-network, else the
    largest) or an :class:`~forwardkit_vit_resnas.arch.Arch` of the super-network ``config``."""
    from forwardkit_vit_resnas.arch import Arch, SearchSpace

    target = getattr(model_or_arch, "config", model_or_arch)
    if isinstance(model_or_arch, Arch):
        if config is None:
            raise TypeError("analytic_macs(arch) needs the super-network's config=")
        return network_macs(arch_shape(config, model_or_arch), img_size)
    if isinstance(target, ViTResConfig):
        return network_macs(target, img_size)
    if isinstance(target, ViTResSuperNetConfig):
        arch = getattr(model_or_arch, "fixed_arch", None) or SearchSpace(target).largest()
        return network_macs(arch_shape(target, arch), img_size)
    raise TypeError(f"analytic_macs needs a ViTRes, a ViTResSuperNet or an Arch, got {type(model_or_arch).__name__}")
