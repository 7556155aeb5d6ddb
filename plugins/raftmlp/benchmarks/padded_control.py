"""Control for the card's padded-resolution check: is the drop at 32x32 the adapter's, or the backbone's?

The reproduction's padded check (``padded_resolution``: test digits padded, centred, from 28x28 to 32x32)
mixes two effects: the bicubic grid adapter of the fixed-grid token MLPs, and what a larger canvas does to
MF-Tiny itself (its stages go 16/8/4/2 instead of 14/7/4/2, so the strided downsamplings cut the digit at
other places). This script trains, with the reproduction's exact recipe (``raftmlp``'s spec base, 10
epochs), MF-Tiny with ``raft_r2`` and with ``pooling`` (PoolFormer's, no grid-sized weights: the adapter does
nothing) and measures on 512 test digits: native accuracy, accuracy padded to 32x32 (the check), and
accuracy with the digit moved by 2 pixels inside its own 28x28 canvas (``shifted``: same grids, no adapter).

    python plugins/raftmlp/benchmarks/padded_control.py [--seeds 0,1,2] [--smoke] [--out PATH]

Writes plugins/raftmlp/reports/padded_control.json (exploratory: no spec condition reads it).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import torch
from forwardkit_raftmlp.analyzer import PaddedResolution
from forwardkit_raftmlp.reproduction import SPEC

import forwardkit
from forwardkit.measure import save_report
from forwardkit.reproduce.spec import deep_merge

OUT = Path(__file__).resolve().parents[1] / "reports" / "padded_control.json"
ARMS = {"raft_r2": {"name": "raft_mixing", "raft_size": 2}, "pooling": {"name": "pooling"}}
SHIFT = 2


def shifted(x: torch.Tensor, by: int) -> torch.Tensor:
    """``(B, H, W, C)`` moved down-right by ``by`` pixels inside the same canvas, filled with the background."""
    out = torch.full_like(x, float(x.min()))
    out[:, by:, by:] = x[:, : x.shape[1] - by, : x.shape[2] - by]
    return out


def measure(model: torch.nn.Module, batches: list[dict[str, torch.Tensor]]) -> dict[str, float]:
    model.eval()
    numbers = PaddedResolution().analyze(model, batches).numbers
    right = total = 0
    with torch.no_grad():
        for b in batches:
            right += int((model(shifted(b["x"], SHIFT)).argmax(-1) == b["y"]).sum())
            total += int(b["y"].numel())
    return {"native": numbers["native_accuracy"], "padded_32": numbers["padded_accuracy"],
            "shifted_2px": right / total, "padded_drop": numbers["drop"],
            "shifted_drop": numbers["native_accuracy"] - right / total}


def run(seeds: list[int], smoke: bool) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for arm, mixer in ARMS.items():
        rows = []
        for seed in seeds:
            exp = deep_merge(SPEC.base, {"seed": seed, "model": {"token_mixers": [mixer]}})
            if smoke:
                exp = deep_merge(exp, {"data": {"name": "digits"}, "model": {"stem_stride": 1},
                                       "trainer": {"epochs": 1, "max_steps": 2, "batch_size": 32}})
            fit = forwardkit.run(exp, write=False)
            data = held_out_batches(exp)
            rows.append({"seed": seed, **measure(fit.model, data)})
        results[arm] = {"per_seed": rows, "mean": {k: statistics.fmean(r[k] for r in rows) for k in rows[0]
                                                   if k != "seed"}}
    return results


def held_out_batches(exp: dict[str, Any], n: int = 512) -> list[dict[str, torch.Tensor]]:
    """The first ``n`` test digits of the experiment's data, in batches of 128 (as the analyzer sees them)."""
    data = exp["data"]
    dataset = forwardkit.create("dataset", data["name"], **{k: v for k, v in data.items() if k != "name"})
    split = dataset.split("test")
    x, y = split.x[:n], split.y[:n]
    return [{"x": x[i:i + 128], "y": y[i:i + 128]} for i in range(0, len(x), 128)]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--smoke", action="store_true", help="2 steps on digits (seconds); writes nothing by default")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    result = {"recipe": "raftmlp reproduction base (MF-Tiny, mnist5k, 10 epochs)", "shift_pixels": SHIFT,
              "seeds": seeds, "smoke": args.smoke, "torch": torch.__version__, "arms": run(seeds, args.smoke)}
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    print(json.dumps({k: v["mean"] for k, v in result["arms"].items()}, indent=1))
    return result


if __name__ == "__main__":
    main()
