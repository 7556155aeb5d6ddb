"""Cost of raft mixing vs the MLP-Mixer token MLP (card "Performance notes"), one process, interleaved.

For square grids g in GRIDS (N = g^2 tokens) and C channels, both mixers are built for the grid (as a holder
would), and the forward time of each (eval, no grad, batch B, 1 thread) is measured in interleaved rounds;
the median per mixer and grid is kept. Fitted exponent: least-squares slope of log(median time) vs log(N).
Also: parameters and analytic multiply-adds of the token MLPs. Writes reports/cost.json.

    python benchmarks/cost.py [--smoke]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch
from forwardkit_raftmlp.mixer_mlp import MixerTokenMLP
from forwardkit_raftmlp.raft import RaftMixing

from forwardkit.bench.report import fit_exponent
from forwardkit.measure import interleaved_ms, median_ratios

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"


def macs(name: str, g: int, c: int, r: int = 2, e: float = 2.0) -> float:
    """Token-MLP multiply-adds per sample: raft 2 * C * r * e * (H^2 W + W^2 H); Mixer 2 * C * e * N^2."""
    if name == "raft_mixing":
        return 2 * c * r * e * (g * g * g + g * g * g)
    n = g * g
    return 2 * c * e * n * n


def run(grids: list[int], channels: int, batch: int, rounds: int, warmup: int) -> dict:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    mixers = {}
    for g in grids:
        mixers[("raft_mixing", g)] = RaftMixing(dim=channels, grid=(g, g), raft_size=2).eval()
        mixers[("mixer_token_mlp", g)] = MixerTokenMLP(dim=channels, num_tokens=g * g, expansion=2.0).eval()
    inputs = {g: torch.randn(batch, g, g, channels) for g in grids}

    def call(name: str, g: int):
        def run_once() -> None:
            with torch.inference_mode():
                mixers[(name, g)](inputs[g])
        return run_once

    # interleaved: every mixer and grid once per round (forwardkit.measure), milliseconds
    times_ms = interleaved_ms({f"{n}@{g}": call(n, g) for n, g in mixers}, rounds=rounds, warmup=warmup)
    times = {(n, g): [t / 1e3 for t in times_ms[f"{n}@{g}"]] for n, g in mixers}
    out: dict = {"channels": channels, "batch": batch, "rounds": rounds, "threads": 1, "grids": grids,
                 "tokens": [g * g for g in grids], "mixers": {}}
    for name in ("raft_mixing", "mixer_token_mlp"):
        med = [statistics.median(times[(name, g)]) for g in grids]
        out["mixers"][name] = {
            "median_seconds": med,
            "params": [sum(p.numel() for p in mixers[(name, g)].parameters()) for g in grids],
            "macs_per_sample": [macs(name, g, channels) for g in grids],
            "time_exponent_in_tokens": fit_exponent(out["tokens"], med),
            "macs_exponent_in_tokens": fit_exponent(out["tokens"], [macs(name, g, channels) for g in grids]),
        }
    r, m = out["mixers"]["raft_mixing"], out["mixers"]["mixer_token_mlp"]
    out["time_ratio_mixer_over_raft"] = [median_ratios({"m": times_ms[f"mixer_token_mlp@{g}"],
                                                        "r": times_ms[f"raft_mixing@{g}"]}, "r")["m"] for g in grids]
    out["param_ratio_mixer_over_raft"] = [a / b for a, b in zip(m["params"], r["params"], strict=True)]
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if args.smoke:
        res = run([4, 6, 8], channels=8, batch=2, rounds=2, warmup=0)
    else:
        res = run([14, 20, 28, 40, 56], channels=64, batch=8, rounds=7, warmup=2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps({k: v["time_exponent_in_tokens"] for k, v in res["mixers"].items()}))
    return res


if __name__ == "__main__":
    main()
