"""Latency of the DCT spectrum mixers against attention, the FFT global filter and AFF (card "Performance notes").

Same process, same input: every mixer is built through the public registry for its exact grid
(``build_for_input``), at C = 64 on square grids 14, 28 and 56 (N = 196, 784, 3136 tokens). The mixers are
timed interleaved (``forwardkit.measure.interleaved_ms``: one call of each per round) for forward and
forward+backward; the medians over the rounds give milliseconds, and every ratio is the median over rounds
of ``other / dsm`` in the same round (above 1: dsm is faster).
A mixer that cannot be built (e.g. ``aff`` when its plugin is not installed) is listed with its error.

    flock /tmp/fk-cpu.lock nice -n 19 python plugins/dynamic-spectrum-mixer/benchmarks/latency.py
    python plugins/dynamic-spectrum-mixer/benchmarks/latency.py --smoke --out /tmp/latency.json   # seconds
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
from pathlib import Path
from typing import Any

import torch

from forwardkit.config import SPEC_TYPES
from forwardkit.measure import interleaved_ms, median_ratios, medians

HERE = Path(__file__).resolve().parent
REPORTS = HERE.parent / "reports"
#: (label, registry name, extra config): dsm in both transforms, its static variant, and the card's baselines
MIXERS: list[tuple[str, str, dict[str, Any]]] = [
    ("dsm", "dsm", {}),
    ("dsm_fft", "dsm", {"transform": "fft"}),
    ("dct_static", "dct_static", {}),
    ("fft_global_filter", "fft_global_filter", {}),
    ("attention", "attention", {}),
    ("aff", "aff", {}),
]


def build(name: str, extra: dict[str, Any], dim: int, side: int) -> Any:
    spec = SPEC_TYPES["token_mixer"].parse({"name": name, "dim": dim, **extra})
    torch.manual_seed(0)
    return spec.build_for_input((side, side))


def call(module: Any, x: torch.Tensor, backward: bool) -> None:
    """One forward (no grad) or forward+backward of ``module`` on ``x``."""
    if backward:
        xg = x.detach().requires_grad_(True)
        module(xg).square().mean().backward()
    else:
        with torch.no_grad():
            module(x)


def run(*, sides: list[int], dim: int, batch: int, repeats: int, threads: int) -> dict[str, Any]:
    torch.set_num_threads(threads)
    out: dict[str, Any] = {"dim": dim, "batch": batch, "repeats": repeats, "threads": threads,
                           "torch": torch.__version__, "machine": platform.machine(), "grids": {}}
    for side in sides:
        x = torch.randn(batch, side, side, dim, generator=torch.Generator().manual_seed(0))
        modules: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for label, name, extra in MIXERS:
            try:
                modules[label] = build(name, extra, dim, side)
                for backward in (False, True):  # warm-up (and lazy builds)
                    call(modules[label], x, backward)
            except Exception as exc:  # a baseline that is missing or fails is reported, not fatal
                modules.pop(label, None)
                errors[label] = f"{type(exc).__name__}: {exc}"[:300]
        ms: dict[str, dict[str, float]] = {k: {} for k in modules}
        ratios: dict[str, dict[str, float]] = {k: {} for k in modules if k != "dsm"}
        for backward, key in ((False, "fwd"), (True, "fwd_bwd")):
            rounds = interleaved_ms({k: functools.partial(call, m, x, backward) for k, m in modules.items()},
                                    rounds=repeats, warmup=0)
            for label, value in medians(rounds).items():
                ms[label][key] = value
            if "dsm" in rounds:
                for label, value in median_ratios(rounds, "dsm").items():
                    if label != "dsm":
                        ratios[label][key] = value
        entry: dict[str, Any] = {"tokens": side * side, "ms": ms, "errors": errors,
                                 "params": {k: sum(p.numel() for p in m.parameters()) for k, m in modules.items()}}
        if "dsm" in ms:
            entry["ratio_vs_dsm"] = ratios
        out["grids"][str(side)] = entry
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", default="14,28,56")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPORTS / "latency.json")
    parser.add_argument("--smoke", action="store_true", help="one small grid, two repeats (checks the script runs)")
    args = parser.parse_args(argv)
    sides = [8] if args.smoke else [int(s) for s in args.sides.split(",")]
    batch, repeats = (2, 2) if args.smoke else (args.batch, args.repeats)
    result = run(sides=sides, dim=args.dim, batch=batch, repeats=repeats, threads=args.threads)
    result["smoke"] = args.smoke
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for side, e in result["grids"].items():
        cells = ", ".join(f"{k} {v['fwd_bwd']:.2f}" for k, v in e["ms"].items())
        print(f"grid {side}x{side}: fwd+bwd ms: {cells}; not built: {sorted(e['errors']) or 'none'}")
    return result


if __name__ == "__main__":
    main()
