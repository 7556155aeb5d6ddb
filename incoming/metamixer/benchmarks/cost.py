"""Cost benchmark (card "Performance notes"): CPU forward+backward latency of one mixer call,
ffnified_attention vs attention and sepconv, interleaved, medians; and FFNet before/after reparam_fold.

    nice -n 19 python plugins/metamixer/benchmarks/cost.py [--quick]

Writes plugins/metamixer/reports/cost.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

import forwardkit

NOTE = ("ConvNeXt block (timm) not benchmarked: timm is not a dependency here. Shared, loaded 2-core "
        "machine: absolute times are noisy; ratios are interleaved medians in one process.")
NOTE = ("ConvNeXt block (timm) not benchmarked: timm is not a dependency here. Shared, loaded 2-core "
        "machine: absolute times are noisy; ratios are interleaved medians in one process.")
OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"


def _time(fn, x, backward):
    t = time.perf_counter()
    if backward:
        x.grad = None
        fn(x).sum().backward()
    else:
        with torch.inference_mode():
            fn(x)
    return (time.perf_counter() - t) * 1e3


def bench_mixers(shapes, repeats):
    rows = []
    for h, c in shapes:
        mixers = {
            "ffnified_attention": forwardkit.create("token_mixer", "ffnified_attention", dim=c),
            "attention": forwardkit.create("token_mixer", "attention", dim=c, head_dim=32 if c % 32 == 0 else 16),
            "sepconv": forwardkit.create("token_mixer", "sepconv", dim=c),
        }
        from forwardkit_metamixer.reparam import fold_model
        mixers["ffnified_attention_folded"] = fold_model(mixers["ffnified_attention"])
        x = torch.randn(2, h, h, c, requires_grad=True)
        for backward in (False, True):
            # the folded form is an inference form: timed in the forward pass only
            names = [k for k in mixers if not (backward and k.endswith("_folded"))]
            times = {k: [] for k in names}
            for name in names:
                mixers[name].train(backward)
                _time(mixers[name], x, backward)
            for _ in range(repeats):                       # interleaved
                for name in names:
                    times[name].append(_time(mixers[name], x, backward))
            med = {k: statistics.median(v) for k, v in times.items()}
            rows.append({"shape": [2, h, h, c], "pass": "fwd+bwd" if backward else "fwd", "median_ms": med,
                         "ratio_vs_attention": {k: v / med["attention"] for k, v in med.items()},
                         "ratio_vs_sepconv": {k: v / med["sepconv"] for k, v in med.items()}})
    return rows


def bench_fold(repeats):
    from forwardkit_metamixer.ffnet import FFNet
    from forwardkit_metamixer.reparam import fold_model
    out = {}
    for preset, size in (("tiny", 28), ("ffnet_1", 32)):
        model = FFNet(preset=preset, in_channels=3, num_classes=10, image_size=size).eval()
        folded = fold_model(model)
        x = model.example_batch(2)["x"]
        with torch.inference_mode():
            diff = float((model(x) - folded(x)).abs().max())
        tb, ta = [], []
        _time(model, x, False), _time(folded, x, False)
        for _ in range(repeats):
            tb.append(_time(model, x, False))
            ta.append(_time(folded, x, False))
        pb = sum(p.numel() for p in model.parameters())
        pa = sum(p.numel() for p in folded.parameters())
        out[preset] = {"input": list(x.shape), "latency_ms_before": statistics.median(tb),
                       "latency_ms_after": statistics.median(ta),
                       "latency_ratio_after_over_before": statistics.median(ta) / statistics.median(tb),
                       "params_before": pb, "params_after": pa, "max_abs_output_diff": diff}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    reps = 3 if args.quick else 5
    result = {"threads": 2, "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
              "repeats": reps, "mixers": bench_mixers([(56, 64), (14, 320)], reps), "reparam_fold": bench_fold(reps),
              "note": NOTE}
    if not args.quick:
        OUT.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
