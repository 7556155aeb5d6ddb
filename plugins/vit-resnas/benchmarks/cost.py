"""Cost benchmark (card "Performance notes"), everything in one process, interleaved rounds, paired per-round
ratios (``forwardkit.measure``):

* ``sampling_step``: one training step (forward, backward, AdamW) of setup B's super-network on a batch of 128
  digits: the unmasked largest network (baseline), single-architecture sampling (one sub-network's masks) and
  multi-architectural sampling (128 / 16 = 8 sub-networks, per-sample masks). The card: multi-arch sampling
  costs about one pass of the largest network, so the ratios should be ~1;
* ``search``: the evolutionary search of the reproduction (population 50, 5 iterations, 15 parents / mutants /
  crossovers, budget 50% of the largest sub-network's MACs, scored on the digits validation split) on that
  super-network, its wall time; then MACs, parameters and forward latency (batch 64) of the extracted winner
  against the largest sub-network (the full super-network) and a single-stage DeiT-like ViT of about the
  winner's MACs (ratios over the DeiT-like net);
* ``presets``: parameters, MACs and forward latency (batch 8, 224 px) of the official architectures against
  DeiT: ViT-ResNAS-Tiny and ViT-Res-Tiny over DeiT-Ti, ViT-ResNAS-Small over DeiT-B (the abstract: 6.3x fewer
  MACs, 3.7x the GPU throughput of DeiT-B);
* ``attention_share``: the analytic MACs of the attention products per stage of the card's miniature at fixed
  width (the card: attention cost falls ~16x per reduction).

    python plugins/vit-resnas/benchmarks/cost.py [--smoke] [--out PATH] [--threads N]

Writes plugins/vit-resnas/reports/cost.json (``--smoke``: tiny shapes and budgets, no file unless --out).
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from forwardkit_vit_resnas.config import EvolutionarySearchConfig, ViTResConfig
from forwardkit_vit_resnas.macs import NetworkShape, analytic_macs, mac_breakdown, network_macs
from forwardkit_vit_resnas.pipeline import DIGITS_SUPERNET
from forwardkit_vit_resnas.search import search_supernet
from forwardkit_vit_resnas.supernet import ViTResSuperNet
from forwardkit_vit_resnas.vit_res import ViTRes
from torch import Tensor, nn

import forwardkit
from forwardkit.measure import count_parameters, interleaved_ms, median_ratios, medians, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
SEARCH = {"budget_fraction": 0.5, "population": 50, "iterations": 5, "parents": 15, "mutants": 15, "crossovers": 15}


def _step(model: nn.Module, opt: torch.optim.Optimizer, x: Tensor, y: Tensor, before: Callable[[], None]
          ) -> Callable[[], None]:
    def call() -> None:
        before()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return call


def bench_sampling(batch: int, per_arch: int, rounds: int, warmup: int) -> dict[str, Any]:
    """Step time of unmasked / single-arch / multi-arch training of setup B's super-network."""
    torch.manual_seed(0)
    net = ViTResSuperNet(**{k: v for k, v in DIGITS_SUPERNET.items() if k != "name"}).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    x, y = torch.randn(batch, 8, 8, 1), torch.randint(0, 10, (batch,))
    rng = np.random.default_rng(0)
    archs = [net.space.random(rng) for _ in range(max(1, batch // per_arch))]
    calls = {
        "unmasked": _step(net, opt, x, y, lambda: net.set_sample_archs(None)),
        "single_arch": _step(net, opt, x, y, lambda: net.set_sample_archs(archs[:1])),
        "multi_arch": _step(net, opt, x, y, lambda: net.set_sample_archs(archs)),
    }
    times = interleaved_ms(calls, rounds=rounds, warmup=warmup)
    net.set_sample_archs(None)
    return {"batch": batch, "archs_per_step": len(archs), "median_ms": medians(times),
            "ratio_over_unmasked": median_ratios(times, "unmasked")}


def _forward(model: nn.Module, x: Tensor) -> Callable[[], None]:
    model.eval()

    def call() -> None:
        with torch.inference_mode():
            model(x)
    return call


def deit_like(macs: float, depth: int) -> ViTRes:
    """A single-stage ViT on the 8x8 digits grid (patch 1), ``depth`` blocks of 2 heads, the width (a multiple
    of 4) whose MACs are closest to ``macs``."""
    def cost(c: int) -> float:
        shape = NetworkShape(8, 1, 10, 1, "linear", 24, 1, 3, (c,), (((2, c // 2, 4 * c),) * depth,))
        return abs(network_macs(shape) - macs)

    width = min(range(8, 129, 4), key=cost)
    return ViTRes(img_size=8, patch=1, in_channels=1, dims=[width], depths=[depth], heads=[2])


def bench_search(search: dict[str, Any], batch: int, rounds: int, warmup: int, limit: int | None = None
                 ) -> dict[str, Any]:
    """Search wall time on setup B's super-network (untrained: the time does not depend on the weights), then
    the winner against the largest sub-network and a DeiT-like net of about its MACs."""
    torch.manual_seed(0)
    net = ViTResSuperNet(**{k: v for k, v in DIGITS_SUPERNET.items() if k != "name"}).eval()
    val = forwardkit.create("dataset", "digits", val_fraction=0.15, test_fraction=0.15, seed=0).split("val")
    result = search_supernet(net, val.x[:limit], val.y[:limit], EvolutionarySearchConfig(seed=0, **search))
    nets = {"deit_like": deit_like(result.best.macs, sum(DIGITS_SUPERNET["depths"])),
            "largest": net.extract(net.largest_arch()), "searched": net.extract(result.best.arch)}
    x = torch.randn(batch, 8, 8, 1)
    times = interleaved_ms({k: _forward(m, x) for k, m in nets.items()}, rounds=rounds, warmup=warmup)
    return {"search_seconds": result.seconds, "evaluated": len(result.history), "budget_macs": result.high,
            "window": [result.low, result.high], "batch": batch,
            "macs": {k: analytic_macs(m) for k, m in nets.items()},
            "parameters": {k: count_parameters(m) for k, m in nets.items()},
            "deit_like_width": nets["deit_like"].config.dims[0],
            "median_ms": medians(times), "latency_ratio_over_deit_like": median_ratios(times, "deit_like")}


def bench_presets(pairs: list[tuple[str, str]], overrides: dict[str, Any], batch: int, rounds: int,
                  warmup: int) -> list[dict[str, Any]]:
    """Each preset against its DeiT baseline: parameters, MACs, forward latency and their ratios."""
    rows = []
    for name, baseline in pairs:
        torch.manual_seed(0)
        nets = {n: ViTRes(preset=n, **overrides.get(n, {})) for n in (name, baseline)}
        size = {n: m.config.img_size for n, m in nets.items()}
        xs = {n: torch.randn(batch, size[n], size[n], 3) for n in nets}
        times = interleaved_ms({n: _forward(m, xs[n]) for n, m in nets.items()}, rounds=rounds, warmup=warmup)
        macs = {n: analytic_macs(m) for n, m in nets.items()}
        rows.append({"preset": name, "baseline": baseline, "img_size": size, "batch": batch,
                     "parameters": {n: count_parameters(m) for n, m in nets.items()}, "macs": macs,
                     "macs_ratio_baseline_over_preset": macs[baseline] / macs[name], "median_ms": medians(times),
                     "throughput_ratio_preset_over_baseline": 1.0 / median_ratios(times, baseline)[name]})
        del nets
    return rows


def attention_share() -> dict[str, Any]:
    """Attention-product MACs per stage of the miniature at a fixed width of 64 (tokens 1 + 64, 1 + 16, 1 + 4)."""
    parts = mac_breakdown(ViTResConfig(dims=[64, 64, 64], heads=[4, 4, 4]))
    attn = parts["attention"]
    return {"attention_macs": attn, "fall_per_reduction": [attn[i] / attn[i + 1] for i in range(len(attn) - 1)],
            "share_of_block_macs": [a / (a + p + m) for a, p, m in zip(attn, parts["projections"], parts["mlp"],
                                                                       strict=True)]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny budgets and shapes (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.smoke:
        rounds, warmup, batch = 2, 0, 16
        search = {**SEARCH, "population": 4, "iterations": 2, "parents": 2, "mutants": 2, "crossovers": 2}
        free = {"head_dims": None, "block_heads": None, "block_mlp": None}  # the preset's per-block shapes
        pairs = [("vit_res_tiny", "deit_tiny")]
        overrides = {"vit_res_tiny": {**free, "img_size": 56, "stem_mid": 4, "dims": [16, 32, 64], "heads": [1, 2, 4],
                                      "depths": [1, 1, 1]},
                     "deit_tiny": {**free, "img_size": 64, "dims": [16], "heads": [1], "depths": [2]}}
        preset_batch = 2
    else:
        rounds, warmup, batch, search, preset_batch, overrides = 15, 2, 128, SEARCH, 8, {}
        pairs = [("vit_resnas_tiny", "deit_tiny"), ("vit_res_tiny", "deit_tiny"), ("vit_resnas_small", "deit_base")]
    result = {
        "threads": args.threads, "torch": torch.__version__, "machine": platform.machine(), "rounds": rounds,
        "warmup": warmup, "smoke": args.smoke,
        "sampling_step": bench_sampling(batch, 16, rounds, warmup),
        "search": bench_search(search, batch // 2, rounds, warmup, 32 if args.smoke else None),
        "presets": bench_presets(pairs, overrides, preset_batch, rounds, warmup),
        "attention_share": attention_share(),
        "note": "ratios are medians over rounds of a time over the baseline's time in the same round; CPU, not the "
                "paper's GPU throughput",
    }
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    print(json.dumps({"sampling_step": result["sampling_step"]["ratio_over_unmasked"],
                      "search": result["search"]["latency_ratio_over_deit_like"],
                      "presets": [(r["preset"], r["throughput_ratio_preset_over_baseline"])
                                  for r in result["presets"]]},
                     indent=1))
    return result


if __name__ == "__main__":
    main()
