"""Cost benchmark (card "Performance notes"): what guidance adds to a training step, and what linear CKA costs on
large flattened feature maps.

One process, CPU. Three measurements, every candidate timed in interleaved rounds (``forwardkit.measure.
interleaved_ms``) and reported as per-round median ratios (``median_ratios``) over the named baseline:

* ``step``: one training step of the reference FCN (builtin mlp, 6 x 256, 28 x 28 x 1 inputs, batch 64, Adam
  1e-3) by plain ``backprop`` (the baseline) and by ``guidance`` with the card's untrained CNN guide (linear CKA,
  and RSA), plus the guide's no-grad forward with its taps alone; the peak memory of one step of each
  (``peak_memory_bytes``: the target's taps stay in the graph);
* ``cka_features``: forward + backward of ``1 - CKA(T, G)`` for a ``(64, 256)`` target tap with grad against a
  ``(64, p)`` guide tap, p from 10^3 to ~10^5 (a 32 x 64 x 64 conv map is 131072): the column-centred kernel
  ``linear_cka`` (``O(B p)`` centring, ``O(B^2 p)`` Grams; the baseline) against the paper-literal
  ``linear_cka_reference`` with the explicit ``B x B`` centring matrix;
* ``cka_batch``: the same two at p = 4096 as the batch grows (B = 64, 256, 1024), where the explicit ``H``'s
  ``O(B^3)`` products show.

    python plugins/guidance/benchmarks/cost.py [--smoke] [--out PATH] [--threads N]

Writes plugins/guidance/reports/cost.json (``--smoke``: tiny sizes, 2 rounds, no file unless ``--out``).
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from forwardkit_guidance.similarity import linear_cka, linear_cka_reference
from forwardkit_guidance.taps import extract_taps

import forwardkit
from forwardkit.interfaces import RunContext
from forwardkit.measure import interleaved_ms, median_ratios, medians, peak_memory_bytes, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
ADAM = {"name": "backprop", "optimizer": "adam", "lr": 1e-3}
GUIDE = {"model": {"name": "guidance_cnn", "in_channels": 1, "num_classes": 10, "widths": [16, 32, 64],
                   "pool_size": 4}, "seed": 0}


def _ce(output: torch.Tensor, batch: Any) -> torch.Tensor:
    return F.cross_entropy(output, batch["y"])


def step_calls(batch_size: int, side: int, width: int, depth: int) -> tuple[dict[str, Callable[[], Any]], Any]:
    """One training step per rule on its own copy of the same FCN and batch; the guide's forward alone."""
    g = torch.Generator().manual_seed(0)
    batch = {"x": torch.rand(batch_size, side, side, 1, generator=g),
             "y": torch.randint(0, 10, (batch_size,), generator=g)}
    rules: dict[str, dict[str, Any]] = {"backprop": ADAM,
             "guidance_cka": {"name": "guidance", "guide": GUIDE, "rule": ADAM},
             "guidance_rsa": {"name": "guidance", "guide": GUIDE, "rule": ADAM, "metric": "rsa"}}
    calls: dict[str, Callable[[], Any]] = {}
    guide = None
    for name, spec in rules.items():
        torch.manual_seed(0)
        model = forwardkit.create("model", "mlp", in_features=side * side, hidden=[width] * depth, num_classes=10)
        rule = forwardkit.create("learning_rule", spec["name"], **{k: v for k, v in spec.items() if k != "name"})
        ctx = RunContext(model=model, loss_fn=_ce, steps_per_epoch=10, total_steps=10)
        rule.setup(model, ctx)
        rule.step(batch, ctx)  # builds the guide
        calls[name] = functools.partial(rule.step, batch, ctx)
        guide = getattr(rule, "guide", None) or guide
    assert guide is not None
    calls["guide_taps_only"] = lambda: extract_taps(guide, batch)
    return calls, batch


def cka_calls(batch: int, p: int, q: int = 256) -> dict[str, Callable[[], None]]:
    g = torch.Generator().manual_seed(p + batch)
    t = torch.randn(batch, q, generator=g, requires_grad=True)
    guide = torch.randn(batch, p, generator=g)

    def run(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        def call() -> None:
            t.grad = None
            (1 - fn(t, guide)).backward()
        return call

    return {"cka": run(linear_cka), "cka_reference": run(linear_cka_reference)}


def timed(calls: dict[str, Callable[[], Any]], baseline: str, rounds: int, warmup: int) -> dict[str, Any]:
    times = interleaved_ms(calls, rounds=rounds, warmup=warmup)
    return {"median_ms": medians(times), f"time_ratio_over_{baseline}": median_ratios(times, baseline)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and 2 rounds (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    if args.smoke:
        rounds, warmup, side, width, depth = 2, 0, 8, 16, 3
        features, batches, batch_p = [64, 256], [8, 16], 64
    else:
        rounds, warmup, side, width, depth = 15, 2, 28, 256, 6
        features, batches, batch_p = [1024, 16384, 131072], [64, 256, 1024], 4096
    calls, _ = step_calls(64 if not args.smoke else 8, side, width, depth)
    step = timed(calls, "backprop", rounds, warmup)
    step["peak_bytes"] = {n: peak_memory_bytes(fn) for n, fn in calls.items() if n != "guide_taps_only"}
    step["memory_ratio_over_backprop"] = {n: b / max(step["peak_bytes"]["backprop"], 1)
                                          for n, b in step["peak_bytes"].items()}
    by_p = [{"B": 64 if not args.smoke else 8, "p": p, **timed(cka_calls(64 if not args.smoke else 8, p), "cka",
                                                               rounds, warmup)} for p in features]
    by_b = [{"B": b, "p": batch_p, **timed(cka_calls(b, batch_p), "cka", rounds, warmup)} for b in batches]
    result = {"threads": args.threads, "torch": torch.__version__, "machine": platform.machine(), "smoke": args.smoke,
              "rounds": rounds, "warmup": warmup,
              "step": {"batch": 64 if not args.smoke else 8, "input": [side, side, 1], "fcn": [width] * depth,
                       "guide": GUIDE["model"], **step},
              "cka_features": by_p, "cka_batch": by_b,
              "note": "ratios are medians over rounds of time / the baseline's time in the same round (above 1: "
                      "slower); step: one optimizer step (forward, backward, Adam) of the FCN, guidance adding the "
                      "guide's no-grad forward and 1 - CKA (or RSA) on the 4 mapped layer pairs; peak_bytes: the "
                      "largest extra memory held during one step (torch.profiler allocator events); cka: forward + "
                      "backward of 1 - CKA(T (B, 256) with grad, G (B, p)), column-centred (linear_cka) vs the "
                      "explicit centring matrix (linear_cka_reference)"}
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    print(json.dumps({"step": step["time_ratio_over_backprop"],
                      "cka_features_ms": {r["p"]: r["median_ms"] for r in by_p}}, indent=1))
    return result


if __name__ == "__main__":
    main()
