"""Analytic sizes of the lightweight CNNs, torch-free: parameters and multiply-accumulates from a config alone.

A conv layer ``cin -> cout`` with a ``k x k`` kernel and a bias has ``cout * cin * k * k + cout`` parameters
(``+ 2 * cout`` with BatchNorm: weight and bias; the running statistics are buffers) and costs
``H * W * cout * cin * k * k`` MACs at 'same' padding on an ``H x W`` map; a linear layer ``in -> out`` has
``out * in + out`` parameters and ``out * in`` MACs. Pools, activations, biases and normalisation are not counted
as MACs (torch's FLOP counter does not count them either).

The card's reference configuration: trunk 80 + 1,168 + 3,480 = 4,728; one branch with its head 4,978; the unified
model 2 x 4,728 + 4,704 + 970 = 15,130.
"""

from __future__ import annotations

import itertools
from typing import Any


def conv_parameters(cin: int, cout: int, kernel: int, batchnorm: bool = False) -> int:
    """``cout * cin * k * k + cout`` (+ ``2 * cout`` for a BatchNorm's weight and bias)."""
    return cout * cin * kernel * kernel + cout + (2 * cout if batchnorm else 0)


def linear_parameters(fin: int, fout: int) -> int:
    """``fout * fin + fout``."""
    return fout * fin + fout


def feature_maps(cfg: Any) -> list[tuple[int, int]]:
    """``[(H, W)]`` of each conv layer's input map (the pools of the layers before it applied)."""
    h, w = cfg.input_size
    out = []
    for pool in cfg.pool_after:
        out.append((h, w))
        if pool:
            h, w = h // 2, w // 2
    return out


def trunk_features(cfg: Any) -> int:
    """Features a trunk outputs: ``widths[-1]`` with global average pooling, else ``widths[-1] * H' * W'``."""
    if cfg.gap:
        return int(cfg.widths[-1])
    h, w = cfg.input_size
    for pool in cfg.pool_after:
        if pool:
            h, w = h // 2, w // 2
    return int(cfg.widths[-1] * h * w)


def trunk_parameters(cfg: Any) -> int:
    """Parameters of one trunk: the sum over its conv layers."""
    chans = [cfg.in_channels, *cfg.widths]
    return sum(conv_parameters(a, b, cfg.kernel, cfg.batchnorm) for a, b in itertools.pairwise(chans))


def trunk_macs(cfg: Any) -> int:
    """MACs of one trunk on one image: ``sum_i H_i * W_i * cout_i * cin_i * k * k``."""
    chans = [cfg.in_channels, *cfg.widths]
    return sum(h * w * cout * cin * cfg.kernel * cfg.kernel
               for (h, w), cin, cout in zip(feature_maps(cfg), chans[:-1], chans[1:], strict=True))


def branch_parameters(cfg: Any) -> int:
    """``tiny_branch_cnn``: trunk (+ ``Linear(features, num_classes)`` when it has a head)."""
    head = linear_parameters(trunk_features(cfg), cfg.num_classes) if getattr(cfg, "head", True) else 0
    return trunk_parameters(cfg) + head


def dual_parameters(cfg: Any) -> int:
    """``dual_io_model``: two branches, each with its head."""
    return 2 * (trunk_parameters(cfg) + linear_parameters(trunk_features(cfg), cfg.num_classes))


def unified_parameters(cfg: Any) -> int:
    """``unified_model``: two trunks + ``Linear(2F, hidden)`` + ``Linear(hidden, num_classes)``."""
    return (2 * trunk_parameters(cfg) + linear_parameters(2 * trunk_features(cfg), cfg.head_hidden)
            + linear_parameters(cfg.head_hidden, cfg.num_classes))


def branch_macs(cfg: Any) -> int:
    head = trunk_features(cfg) * cfg.num_classes if getattr(cfg, "head", True) else 0
    return trunk_macs(cfg) + head


def dual_macs(cfg: Any) -> int:
    return 2 * (trunk_macs(cfg) + trunk_features(cfg) * cfg.num_classes)


def unified_macs(cfg: Any) -> int:
    return 2 * trunk_macs(cfg) + 2 * trunk_features(cfg) * cfg.head_hidden + cfg.head_hidden * cfg.num_classes
