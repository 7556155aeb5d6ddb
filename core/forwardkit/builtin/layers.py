"""Deprecated location of the shared layers: they live in :mod:`forwardkit.nn` now.

The names stay importable from here until the plugins have moved (``forwardkit.builtin.layers.X`` is
``forwardkit.nn.X``); new code imports :mod:`forwardkit.nn`.
"""

from __future__ import annotations

from forwardkit.nn.activations import ACTIVATIONS, SquaredReLU, make_activation
from forwardkit.nn.norms import NORMS, ChannelsLastBatchNorm, GroupNorm1, RMSNorm, make_norm
from forwardkit.nn.residual import DropPath, Scale, drop_path

__all__ = [
    "ACTIVATIONS",
    "NORMS",
    "ChannelsLastBatchNorm",
    "DropPath",
    "GroupNorm1",
    "RMSNorm",
    "Scale",
    "SquaredReLU",
    "drop_path",
    "make_activation",
    "make_norm",
]
