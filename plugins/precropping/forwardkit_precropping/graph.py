"""``ChannelGraph``: which channel groups every prunable layer reads and writes.

A *group* is a set of channels that must keep the same width: the output of one conv, or, for residual
networks, every tensor summed into one residual stream (a tie group). Fixed groups (the input image's
channels and the classifier's outputs) keep their width (alpha = 1). A standard conv / Linear ``l`` with
input group ``g_in`` and output group ``g_out`` keeps ``numel_l * alpha_in * alpha_out`` weights after
cropping; a depthwise conv (``depthwise=True``, ``g_in == g_out``) keeps ``numel_l * alpha_out``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Group:
    """A set of channels sharing one keep ratio: ``width`` channels, ``fixed`` if it cannot change."""

    name: str
    width: int
    fixed: bool = False


@dataclass(frozen=True)
class Layer:
    """A prunable weight: its module path, groups, element count and MACs per sample (for budget='flops')."""

    name: str
    in_group: str
    out_group: str
    numel: int
    macs: int
    depthwise: bool = False


@dataclass
class ChannelGraph:
    """Groups and prunable layers of a model (in forward order)."""

    groups: dict[str, Group] = field(default_factory=dict)
    layers: list[Layer] = field(default_factory=list)

    def add_group(self, name: str, width: int, *, fixed: bool = False) -> str:
        self.groups[name] = Group(name, width, fixed)
        return name

    def add_layer(self, name: str, in_group: str, out_group: str, *, numel: int, macs: int,
                  depthwise: bool = False) -> None:
        if depthwise and in_group != out_group:
            raise ValueError(f"depthwise layer {name!r} must read and write the same group")
        self.layers.append(Layer(name, in_group, out_group, numel, macs, depthwise))

    @property
    def free(self) -> list[str]:
        """Names of the groups whose width can change, in insertion order."""
        return [g.name for g in self.groups.values() if not g.fixed]

    def kept(self, alphas: dict[str, float], *, cost: str = "params") -> float:
        """Kept weights (or MACs) for keep ratios ``alphas`` (fixed groups count as 1), per the module doc."""
        total = 0.0
        for layer in self.layers:
            base = layer.numel if cost == "params" else layer.macs
            a_out = 1.0 if self.groups[layer.out_group].fixed else alphas[layer.out_group]
            a_in = 1.0 if self.groups[layer.in_group].fixed else alphas[layer.in_group]
            total += base * (a_out if layer.depthwise else a_in * a_out)
        return total

    def total(self, *, cost: str = "params") -> int:
        return sum(layer.numel if cost == "params" else layer.macs for layer in self.layers)

    def widths(self) -> dict[str, int]:
        return {g.name: g.width for g in self.groups.values()}
