"""Cost of the activation spaces and of S-KAN before/after pruning (card "Performance notes").

In one process, interleaved, medians: forward+backward time of one layer d_in -> d_out on a batch, for
nn.Linear (the MLP baseline), each single-space KAN layer, the S-KAN layer over the 4-space pool in phase 1
and after top-1 selection + pruning. Ratios: every KAN space over Linear, S-KAN phase 1 over the B-spline layer
(card: ~M times a single KAN), pruned S-KAN over phase-1 S-KAN. Writes reports/cost.json.

    python plugins/s-kan/benchmarks/cost.py [--smoke] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any

import torch
from forwardkit_s_kan.layers import KANLayer, PrunedSKANLayer, SKANLayer
from torch import nn

from forwardkit.measure import interleaved_ms, median_ratios, medians

POOL = ["bspline", "chebyshev", "rbf", "fourier"]


def _step(module: nn.Module, x: torch.Tensor):
    """One forward+backward of ``module`` on ``x`` (gradients cleared first)."""
    def run() -> None:
        module.zero_grad(set_to_none=True)
        module(x).square().mean().backward()
    return run


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "reports"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    d, batch, repeats = (8, 32, 2) if args.smoke else (64, 1024, 15)
    x = torch.randn(batch, d).clamp(-1, 1)
    modules: dict[str, nn.Module] = {"linear": nn.Linear(d, d)}
    for s in [*POOL, "wavelet"]:
        modules[s] = KANLayer(s, d, d)
    skan = SKANLayer(d, d, pool=POOL)
    modules["skan_phase1"] = skan
    pruned_src = SKANLayer(d, d, pool=POOL)
    pruned_src.load_state_dict(skan.state_dict())
    with torch.no_grad():
        pruned_src.alpha.copy_(torch.randn_like(pruned_src.alpha))
    pruned_src.select(1)
    modules["skan_pruned"] = PrunedSKANLayer(pruned_src)
    # interleaved rounds, paired per-round ratios (forwardkit.measure), milliseconds
    times = interleaved_ms({k: _step(m, x) for k, m in modules.items()}, rounds=repeats, warmup=1)
    med = medians(times)
    over_linear = median_ratios(times, "linear")
    over_bspline = median_ratios(times, "bspline")
    over_phase1 = median_ratios(times, "skan_phase1")
    params = {k: sum(p.numel() for p in m.parameters()) for k, m in modules.items()}
    out: dict[str, Any] = {
        "setup": {"d_in": d, "d_out": d, "batch": batch, "repeats": repeats, "threads": 1, "smoke": args.smoke,
                  "torch": torch.__version__, "python": platform.python_version(), "what": "forward+backward ms"},
        "median_ms": med,
        "parameters": params,
        "ratio_over_linear": {k: v for k, v in over_linear.items() if k != "linear"},
        "skan_phase1_over_bspline": over_bspline["skan_phase1"],
        "skan_phase1_over_sum_of_pool": med["skan_phase1"] / sum(med[s] for s in POOL),
        "skan_pruned_over_phase1": over_phase1["skan_pruned"],
        "pruned_kept_spaces": modules["skan_pruned"].spaces,
    }
    if not args.smoke:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "cost.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
