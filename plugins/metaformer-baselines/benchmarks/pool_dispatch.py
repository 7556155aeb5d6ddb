"""Where the fused ``avgpool(x) - x`` autograd function pays: forward+backward time of the fused function, of
plain ``pool(x) - x`` on the same channels-last view, and of the NCHW reference (``nn.AvgPool2d`` on a
channels-last tensor, as the field's code runs it), interleaved in one process, medians of paired ratios,
on 1 and 2 threads, from a single 7 x 7 x 512 map up to the MetaFormer stages at batch 32.

The crossover it finds is :data:`forwardkit_metaformer_baselines.pooling.FUSED_MIN_ELEMENTS_PER_THREAD`.

    python plugins/metaformer-baselines/benchmarks/pool_dispatch.py            # -> reports/pool_dispatch.json
    python plugins/metaformer-baselines/benchmarks/pool_dispatch.py --smoke    # seconds, writes nothing
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path
from typing import Any

import torch
from forwardkit_metaformer_baselines.pooling import FUSED_MIN_ELEMENTS_PER_THREAD, pool_mix
from torch import nn

from forwardkit.measure import interleaved_ms, median_ratios, medians, save_report

REPORT = Path(__file__).resolve().parents[1] / "reports" / "pool_dispatch.json"
#: (B, H, W, C): small maps (bake-off sizes, batch 1-4) up to the stages of the speed bar
SHAPES = [(1, 7, 7, 512), (4, 7, 7, 512), (8, 7, 7, 256), (8, 7, 7, 512), (12, 7, 7, 512), (8, 7, 7, 768),
          (2, 14, 14, 320), (4, 14, 14, 320), (8, 14, 14, 320), (1, 56, 56, 64), (2, 28, 28, 128),
          (32, 14, 14, 320), (8, 56, 56, 64)]
SMOKE_SHAPES = [(1, 4, 4, 8), (2, 8, 8, 8)]


def measure(shape: tuple[int, int, int, int], rounds: int) -> dict[str, Any]:
    x = torch.randn(*shape, requires_grad=True)
    g = torch.randn(shape)
    b, h, w, c = shape
    xc = torch.randn(b, c, h, w).contiguous(memory_format=torch.channels_last).requires_grad_()
    gc = torch.randn(b, c, h, w).contiguous(memory_format=torch.channels_last)
    pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    calls = {
        "reference": lambda: (pool(xc) - xc).backward(gc),
        "fused": lambda: pool_mix(x, fused=True).backward(g),
        "plain": lambda: pool_mix(x, fused=False).backward(g),
        "dispatched": lambda: pool_mix(x).backward(g),
    }
    times = interleaved_ms(calls, rounds=rounds, warmup=5)
    numel = b * h * w * c
    return {"shape": list(shape), "elements": numel, "threads": torch.get_num_threads(),
            "dispatch": "fused" if numel >= FUSED_MIN_ELEMENTS_PER_THREAD * torch.get_num_threads() else "plain",
            "median_ms": medians(times), "ratio_over_reference": median_ratios(times, "reference"),
            "fused_over_plain": median_ratios(times, "plain")["fused"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="two tiny shapes, a few rounds, nothing written")
    ap.add_argument("--out", type=Path, default=None, help=f"JSON output (default {REPORT}; none with --smoke)")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for shape in SMOKE_SHAPES if args.smoke else SHAPES:
            rounds = 3 if args.smoke else (200 if shape[1] * shape[2] * shape[0] <= 2000 else 40)
            rows.append(measure(shape, rounds))
    result = {"what": "forward+backward ms of avgpool(x) - x: the fused autograd function, plain ops on the same "
              "channels-last view, the size/thread dispatch, and the NCHW nn.AvgPool2d reference; ratios are "
              "medians of per-round ratios", "threshold_elements_per_thread": FUSED_MIN_ELEMENTS_PER_THREAD,
              "rows": rows, "torch": torch.__version__, "machine": platform.machine(),
              "processor": platform.processor(), "smoke": args.smoke}
    out = args.out if args.out is not None else (None if args.smoke else REPORT)
    if out is not None:
        save_report(result, out)
    return result


if __name__ == "__main__":
    main()
