"""Cost benchmark of the card's "Performance notes": CPU forward latency of aff against attention (builtin),
global_filter and dsm (dynamic-spectrum-mixer, loaded only through forwardkit's registry) at 14, 28 and 56 grids,
C = 64, batches 1 and 4, plus the card's 14x14x16 point. One process, interleaved rounds, medians and paired
per-round ratios over aff (``forwardkit.measure``); the scaling
exponent is the least-squares slope of log(latency) on log(N) over the three grids (N = H W).

    python benchmarks/speed.py [--smoke] [--out reports/speed.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from pathlib import Path

import torch

import forwardkit
from forwardkit.bench.report import fit_exponent
from forwardkit.config import input_fields
from forwardkit.measure import interleaved_ms, median_ratios

MIXERS = {"aff": {}, "global_filter": {}, "attention": {}, "dsm": {}}


def build(name: str, dim: int, grid: tuple[int, int], extra: dict) -> torch.nn.Module:
    probe = forwardkit.create("token_mixer", name, dim=dim, **extra)
    fields = input_fields(type(probe), grid)
    return forwardkit.create("token_mixer", name, dim=dim, **{**fields, **extra}).eval()


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
    rounds, warm = (1, 0) if args.smoke else (3, 1) if args.quick else (11, 2)
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
    inputs = {(b, s, c): torch.randn(b, s, s, c) for b, s, c in points}

    def call(m: torch.nn.Module, x: torch.Tensor):
        def run() -> None:
            with torch.inference_mode():
                m(x)
        return run

    times: dict[tuple, list[float]] = {}
    rows = []
    for p in points:  # interleaved rounds over the mixers of one point (forwardkit.measure), milliseconds
        ms = interleaved_ms({n: call(mods[(n, *p)], inputs[p]) for n in names}, rounds=rounds, warmup=warm)
        ratios = median_ratios(ms, "aff") if "aff" in names else {}
        b, s, c = p
        for n in names:
            times[(n, *p)] = [t / 1e3 for t in ms[n]]
            rows.append({"mixer": n, "batch": b, "side": s, "tokens": s * s, "dim": c,
                         "median_s": statistics.median(times[(n, *p)]), "ratio_vs_aff": ratios.get(n)})
    exps = {}
    for n in names:
        for b in batches:
            ts = [statistics.median(times[(n, b, s, dims[0])]) for s in sides]
            exps[f"{n}/batch{b}"] = fit_exponent([s * s for s in sides], ts)
    out = {"benchmark": "forward latency, eval, no grad", "threads": threads, "rounds": rounds, "warmup": warm,
           "smoke": args.smoke, "quick": args.quick, "torch": torch.__version__, "machine": platform.machine(),
           "mixer_status": status, "scaling_exponent": exps, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps({"status": status, "exponents": exps}, indent=2))


if __name__ == "__main__":
    main()
