"""Cost benchmark of the card's "Performance notes": CPU forward latency of aff against attention (builtin),
global_filter and dsm (dynamic-spectrum-mixer, loaded only through forwardkit's registry) at 14, 28 and 56 grids,
C = 64, batches 1 and 4, plus the card's 14x14x16 point. One process, interleaved rounds, medians; the scaling
exponent is the least-squares slope of log(latency) on log(N) over the three grids (N = H W).

    python benchmarks/speed.py [--smoke] [--out reports/speed.json]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from pathlib import Path

import torch

import forwardkit
from forwardkit.config import input_fields

MIXERS = {"aff": {}, "global_filter": {}, "attention": {}, "dsm": {}}


def build(name: str, dim: int, grid: tuple[int, int], extra: dict) -> torch.nn.Module:
    probe = forwardkit.create("token_mixer", name, dim=dim, **extra)
    fields = input_fields(type(probe), grid)
    return forwardkit.create("token_mixer", name, dim=dim, **{**fields, **extra}).eval()


def slope(ns: list[int], ts: list[float]) -> float:
    xs, ys = [math.log(n) for n in ns], [math.log(t) for t in ts]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--quick", action="store_true", help="batch 1 only, 3 rounds: a short provisional run")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "reports" / "speed.json"))
    args = ap.parse_args()
    torch.manual_seed(0)
    threads = 1 if args.smoke else 2
    torch.set_num_threads(threads)
    sides = [4, 8] if args.smoke else [14, 28, 56]
    batches = [1] if args.smoke or args.quick else [1, 4]
    dims = [8] if args.smoke else [64]
    rounds, warm = (1, 0) if args.smoke else (3, 1) if args.quick else (7, 2)
    points = [(b, s, c) for b in batches for s in sides for c in dims]
    if not args.smoke:
        points.append((batches[-1], 14, 16))
    status: dict[str, str] = {}
    mods: dict[tuple, torch.nn.Module] = {}
    for name, extra in MIXERS.items():
        try:
            for b, s, c in points:
                mods[(name, b, s, c)] = build(name, c, (s, s), extra)
            x = torch.randn(1, sides[0], sides[0], dims[0])
            with torch.no_grad():
                mods[(name, 1 if 1 in batches else batches[0], sides[0], dims[0])](x)
            status[name] = "ok"
        except Exception as e:
            status[name] = f"unavailable: {type(e).__name__}: {e}"[:300]
            for key in [k for k in mods if k[0] == name]:
                del mods[key]
    names = [n for n in MIXERS if status[n] == "ok"]
    times: dict[tuple, list[float]] = {k: [] for k in mods}
    inputs = {(b, s, c): torch.randn(b, s, s, c) for b, s, c in points}
    with torch.no_grad():
        for r in range(rounds + warm):
            for p in points:
                for n in names:
                    m = mods[(n, *p)]
                    t0 = time.perf_counter()
                    m(inputs[p])
                    dt = time.perf_counter() - t0
                    if r >= warm:
                        times[(n, *p)].append(dt)
    rows = []
    for (n, b, s, c), ts in times.items():
        med = statistics.median(ts)
        rows.append({"mixer": n, "batch": b, "side": s, "tokens": s * s, "dim": c, "median_s": med,
                     "ratio_vs_aff": med / statistics.median(times[("aff", b, s, c)]) if "aff" in names else None})
    exps = {}
    for n in names:
        for b in batches:
            ts = [statistics.median(times[(n, b, s, dims[0])]) for s in sides]
            exps[f"{n}/batch{b}"] = slope([s * s for s in sides], ts)
    out = {"benchmark": "forward latency, eval, no grad", "threads": threads, "rounds": rounds, "warmup": warm,
           "smoke": args.smoke, "quick": args.quick, "torch": torch.__version__, "machine": platform.machine(),
           "mixer_status": status, "scaling_exponent": exps, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps({"status": status, "exponents": exps}, indent=2))


if __name__ == "__main__":
    main()
