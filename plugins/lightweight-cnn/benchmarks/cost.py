"""Cost benchmark (card "Performance notes"): what the two-trunk unified model costs against one branch of the same
width (``tiny_branch_cnn`` with its head, the card's baseline (c)), in one process, on the CPU.

The card: "Latency of a 15k-parameter CNN on CPU is dominated by framework overhead; report batch-1 and batch-256
numbers and MACs (analytic) rather than claiming a speed-up ... Two trunks double MACs compared with one trunk of the
same width - the Compressor report should show that the unified model trades parameters for robustness, not speed."

For both models at the card's reference configuration (28x28x1 inputs): parameters, raw / ``torch.save`` /
safetensors bytes and analytic MACs from ``size_report`` (checked against torch's FLOP counter), then eval-mode,
no-grad forward latency at batch 1 and batch 256, timed in interleaved rounds
(``forwardkit.measure.interleaved_ms``) with per-round ratios over the branch (``median_ratios``). Also the size the
paper quotes, 0.17 MB for 14,862 parameters, against 4 bytes per parameter.

    python plugins/lightweight-cnn/benchmarks/cost.py [--smoke] [--out PATH] [--threads N]

Writes plugins/lightweight-cnn/reports/cost.json (``--smoke``: batch 8 instead of 256, 3 rounds, no file unless
``--out``).
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any

import torch
from forwardkit_lightweight_cnn.size_report import measure

import forwardkit
from forwardkit.measure import count_macs, interleaved_ms, median_ratios, medians, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
BASELINE = "branch"
PAPER_PARAMS, PAPER_MB = 14_862, 0.17


def models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {"unified": forwardkit.create("model", "unified_model").eval(),
            BASELINE: forwardkit.create("model", "tiny_branch_cnn").eval()}


def sizes(nets: dict[str, torch.nn.Module]) -> dict[str, Any]:
    """size_report's figures per model (3 latency runs only: the timing is below), MACs cross-checked."""
    out: dict[str, Any] = {}
    for name, net in nets.items():
        fig = measure(net, None, forwardkit.create("compressor", "size_report", latency_runs=3).config)
        batch = net.example_batch(1)
        counted = count_macs(lambda net=net, batch=batch: net.forward_batch(batch))
        out[name] = {k: fig[k] for k in ("parameters", "raw_param_bytes", "state_tensor_bytes", "torch_save_bytes",
                                         "safetensors_bytes", "macs")}
        out[name]["macs_flop_counter"] = counted
    return out


def latency(nets: dict[str, torch.nn.Module], batch: int, rounds: int, warmup: int) -> dict[str, Any]:
    x = torch.rand(batch, 28, 28, 1, generator=torch.Generator().manual_seed(batch))

    def call(net: torch.nn.Module) -> Any:
        def run() -> None:
            with torch.no_grad():
                net(x)
        return run

    times = interleaved_ms({name: call(net) for name, net in nets.items()}, rounds=rounds, warmup=warmup)
    med = medians(times)
    return {"batch": batch, "rounds": rounds, "warmup": warmup, "median_ms": med,
            "median_ms_per_image": {n: v / batch for n, v in med.items()},
            "ratio_over_branch": median_ratios(times, BASELINE)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="batch 8 instead of 256, 3 rounds (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: per-core latency)")
    args = ap.parse_args(argv)
    before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        nets = models()
        size = sizes(nets)
        big = 8 if args.smoke else 256
        b1 = latency(nets, 1, rounds=3 if args.smoke else 200, warmup=1 if args.smoke else 20)
        bn = latency(nets, big, rounds=3 if args.smoke else 30, warmup=1 if args.smoke else 3)
    finally:
        torch.set_num_threads(before)
    u, b = size["unified"], size[BASELINE]
    result: dict[str, Any] = {
        "smoke": args.smoke, "threads": args.threads, "torch": torch.__version__, "machine": platform.machine(),
        "input": [28, 28, 1], "baseline": BASELINE, "sizes": size,
        "ratios_over_branch": {"parameters": u["parameters"] / b["parameters"], "macs": u["macs"] / b["macs"],
                               "torch_save_bytes": u["torch_save_bytes"] / b["torch_save_bytes"],
                               "latency_b1": b1["ratio_over_branch"]["unified"],
                               f"latency_b{big}": bn["ratio_over_branch"]["unified"]},
        "latency_b1": b1, f"latency_b{big}": bn,
        "paper": {"parameters": PAPER_PARAMS, "reported_mb": PAPER_MB, "raw_float32_bytes": 4 * PAPER_PARAMS,
                  "raw_float32_mb": 4 * PAPER_PARAMS / 1e6,
                  "reported_over_raw": PAPER_MB * 1e6 / (4 * PAPER_PARAMS)},
        "note": "latency: eval mode, no grad, median over interleaved rounds; ratio_over_branch: median over rounds of "
                "unified time / branch time in the same round (above 1: slower than one branch); MACs: analytic "
                "conv + linear per image (size_report), macs_flop_counter: torch's FLOP counter / 2",
    }
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    print(json.dumps(result["ratios_over_branch"], indent=1))
    return result


if __name__ == "__main__":
    main()
