"""Training step time against the number of variates N, inverted vs temporal-token Transformer (card's
"Performance notes"; paper App. D: the inverted layer costs O(N^2 D + N D d_ff), independent of T but for
the embedding; the temporal-token layer O(T^2 D + T D d_ff), with a flatten head of (T D) x (S N) weights).

One step = forward on a batch ``(B, T, N)``, MSE against ``(B, S, N)``, backward, Adam update. Both models
are built in the same process with the reproduction's encoder (2 layers, D=64, 4 heads, d_ff=64) at
lookback T=96, horizon S=24, batch 32; their steps alternate (inverted, temporal, inverted, ...) after
warm-up steps, so that machine load affects both alike, and each median over ``repeats`` steps is kept.
Writes reports/step_time.json: per N the two medians (ms), ``temporal_over_inverted`` (> 1: the inverted
model's step is faster) and the parameter counts.

    python plugins/itransformer/benchmarks/step_time.py           # N in {16, 128, 512}
    python plugins/itransformer/benchmarks/step_time.py --smoke   # tiny sizes, nothing written
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from forwardkit_itransformer.reproduction import ENCODER
from torch import nn

import forwardkit

OUT = Path(__file__).resolve().parents[1] / "reports" / "step_time.json"


def build(kind: str, lookback: int, horizon: int, num_variates: int, encoder: dict[str, Any]) -> nn.Module:
    """``itransformer`` (no N-shaped weights) or ``temporal_transformer`` (built for ``num_variates``)."""
    extra = {"num_variates": num_variates} if kind == "temporal_transformer" else {}
    return forwardkit.create("model", kind, lookback=lookback, horizon=horizon, **encoder, **extra)


def step_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Any:
    """A closure doing one training step (forward ``(B, T, N) -> (B, S, N)``, MSE, backward, Adam)."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step() -> float:
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return 1000 * (time.perf_counter() - start)

    return step


def measure(num_variates: int, *, lookback: int, horizon: int, batch: int, encoder: dict[str, Any], warmup: int,
            repeats: int) -> dict[str, Any]:
    """Median step ms of both models at one N, steps interleaved."""
    gen = torch.Generator().manual_seed(num_variates)
    x = torch.randn(batch, lookback, num_variates, generator=gen)
    y = torch.randn(batch, horizon, num_variates, generator=gen)
    torch.manual_seed(0)
    models = {"inverted": build("itransformer", lookback, horizon, num_variates, encoder),
              "temporal": build("temporal_transformer", lookback, horizon, num_variates, encoder)}
    steps = {k: step_fn(m, x, y) for k, m in models.items()}
    for _ in range(warmup):
        for s in steps.values():
            s()
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(repeats):
        for k, s in steps.items():
            times[k].append(s())
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"inverted_ms": med["inverted"], "temporal_ms": med["temporal"],
            "temporal_over_inverted": med["temporal"] / med["inverted"],
            "inverted_params": sum(p.numel() for p in models["inverted"].parameters()),
            "temporal_params": sum(p.numel() for p in models["temporal"].parameters()),
            "inverted_all_ms": times["inverted"], "temporal_all_ms": times["temporal"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, nothing written")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.smoke:
        sizes, setup = (4, 8), {"lookback": 12, "horizon": 4, "batch": 4, "warmup": 1, "repeats": 2,
                                "encoder": {**ENCODER, "d_model": 8, "num_heads": 2, "d_ff": 8}}
    else:
        sizes, setup = (16, 128, 512), {"lookback": 96, "horizon": 24, "batch": 32, "warmup": 3, "repeats": 15,
                                        "encoder": ENCODER}
    rows = {}
    for n in sizes:
        rows[f"N{n}"] = measure(n, **setup)
        r = rows[f"N{n}"]
        print(f"N={n}: inverted {r['inverted_ms']:.1f} ms, temporal {r['temporal_ms']:.1f} ms, "
              f"temporal/inverted {r['temporal_over_inverted']:.2f}", flush=True)
    results = {"setup": {**setup, "threads": args.threads, "torch": torch.__version__,
                         "machine": platform.machine(), "sizes": list(sizes),
                         "what": "median training-step time (forward, MSE, backward, Adam), steps interleaved"},
               "rows": rows}
    if not args.smoke:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
