"""HaloNet's speed claim measured in one process: halo vs SASA vs global attention, forward + backward on CPU.

The reproduction's ``cost`` arm calls :func:`cost_figures`. For every grid it builds ``halo_attention``
(b = 7, h = 2: an 11 x 11 window), ``sasa_attention`` (k = 11: the same window, centred per pixel) and the
builtin ``attention`` (global) with the same C and heads, then times one forward + backward of each on one
random batch, interleaved (``forwardkit.measure.interleaved_ms``), ``repeats`` rounds after ``warmup``; a
ratio is the median over rounds of the two mixers' times in the same round.
Figures: ``halo_ms_<g>``, ``sasa_ms_<g>``, ``global_ms_<g>`` and the ratios ``halo_over_sasa_<g>``,
``halo_over_global_<g>`` (global is left out where N^2 logits would not fit, see ``global_max_grid``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

import forwardkit
from forwardkit.measure import interleaved_ms, median_ratios, medians


def build_mixers(grid: int, dim: int, heads: int, *, block: int, halo: int, with_global: bool) -> dict[str, nn.Module]:
    """The three mixers of one grid, with matched window (k = b + 2h), C and heads."""
    mixers: dict[str, nn.Module] = {
        "halo": forwardkit.create("token_mixer", "halo_attention", dim=dim, num_heads=heads, dim_head=dim // heads,
                                  block_size=block, halo_size=halo),
        "sasa": forwardkit.create("token_mixer", "sasa_attention", dim=dim, num_heads=heads, dim_head=dim // heads,
                                  kernel_size=block + 2 * halo),
    }
    if with_global:
        mixers["global"] = forwardkit.create("token_mixer", "attention", dim=dim, head_dim=dim // heads,
                                             num_heads=heads)
    return mixers


def _fwd_bwd(mixer: nn.Module, x: torch.Tensor):
    """One ``mixer(x).sum().backward()`` on a fresh leaf copy of ``x`` (gradients cleared first)."""
    def call() -> None:
        mixer.zero_grad(set_to_none=True)
        mixer(x.clone().requires_grad_(True)).sum().backward()
    return call


def time_fwd_bwd(mixers: Mapping[str, nn.Module], x: torch.Tensor, *, repeats: int,
                 warmup: int) -> dict[str, list[float]]:
    """Milliseconds of one forward + backward of each mixer per round, interleaved (``forwardkit.measure``)."""
    return interleaved_ms({name: _fwd_bwd(m, x) for name, m in mixers.items()}, rounds=repeats, warmup=warmup)


def cost_figures(config: Mapping[str, Any], *, seed: int, smoke: bool) -> dict[str, float]:
    """Program arm: ``config`` = ``{"grids": [[grid, C, heads, batch], ...], "block", "halo", "repeats",
    "warmup", "global_max_grid"}``. Returns the figures named in the module docstring."""
    torch.manual_seed(seed)
    figures: dict[str, float] = {}
    for grid, dim, heads, batch in config["grids"]:
        mixers = build_mixers(grid, dim, heads, block=config["block"], halo=config["halo"],
                              with_global=grid <= config["global_max_grid"])
        x = torch.randn(batch, grid, grid, dim)
        times = time_fwd_bwd(mixers, x, repeats=config["repeats"], warmup=config["warmup"])
        for name, value in medians(times).items():
            figures[f"{name}_ms_{grid}"] = value
        figures[f"halo_over_sasa_{grid}"] = median_ratios(times, "sasa")["halo"]
        if "global" in times:
            figures[f"halo_over_global_{grid}"] = median_ratios(times, "global")["halo"]
    figures["threads"] = float(torch.get_num_threads())
    return figures
