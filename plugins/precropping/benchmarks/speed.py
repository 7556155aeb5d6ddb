"""Speed bar of PreCropping: dense vs cropped (d = 0.1) vs masked-unstructured SmallVGG on the CPU.

Measured in one process, on the card's SmallVGG (28x28x1, ~290k parameters): parameters (total and
non-zero), safetensors bytes, MACs of one sample (torch's FLOP counter), CPU inference latency at batch 1
and 64 (eval, no_grad) and train-step latency at batch 64 (forward, backward, Adam step). Timings are
interleaved across the models (round-robin) after a warm-up and summarised by the median, so that load
on a shared machine hits every model alike. Writes ``reports/speed.json``.

    OMP_NUM_THREADS=1 python plugins/precropping/benchmarks/speed.py [--threads 1] [--smoke]

Bar (the card): dense / cropped inference time >= 2 at batch 64; the masked model is not faster than
dense (ratio dense / masked <= 1.1, allowing for timing noise).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from forwardkit_precropping.compressor import PaiMask, precrop
from forwardkit_precropping.figures import nonzero_parameters
from forwardkit_precropping.mask import remove_masks
from forwardkit_precropping.models import SmallVGG
from torch import nn

from forwardkit.measure import count_macs, count_parameters, state_bytes

HERE = Path(__file__).resolve().parents[1]


def _interleaved(fns: dict[str, Callable[[], Any]], warmup: int, repeats: int) -> dict[str, float]:
    """Median milliseconds of each ``fn``, timed round-robin."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - start) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def _train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def _infer(model: nn.Module, x: torch.Tensor) -> Callable[[], Any]:
    def run() -> Any:
        with torch.no_grad():
            return model(x)

    return run


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--density", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=100, help="SynFlow rounds")
    ap.add_argument("--smoke", action="store_true", help="tiny budget (tests): 2 repeats, batch 8, 5 rounds")
    ap.add_argument("--out", type=Path, default=HERE / "reports" / "speed.json")
    args = ap.parse_args(argv)
    if args.smoke:
        args.warmup, args.repeats, args.batch, args.iterations = 1, 2, 8, 5
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    dense = SmallVGG().eval()
    cropped, plan, _ = precrop(dense, args.density, scorer="synflow", iterations=args.iterations)
    masked, _ = PaiMask(method="synflow", density=args.density, iterations=args.iterations,
                        latency=False).compress(SmallVGG().eval())
    masked.load_state_dict({**dense.state_dict(), **{k: v for k, v in masked.state_dict().items()
                                                       if k.endswith("weight_mask")}})
    masked(torch.zeros(1, 28, 28, 1))  # the hook re-applies the masks to the loaded weights
    baked = remove_masks(SmallVGG().eval())
    baked.load_state_dict({k: v for k, v in masked.state_dict().items() if not k.endswith("weight_mask")})
    models = {"dense": dense, "cropped": cropped.eval(), "masked": masked, "masked_baked": baked}

    gen = torch.Generator().manual_seed(0)
    x1, xb = torch.randn(1, 28, 28, 1, generator=gen), torch.randn(args.batch, 28, 28, 1, generator=gen)
    yb = torch.randint(0, 10, (args.batch,), generator=gen)
    out: dict[str, dict[str, Any]] = {}
    for name, m in models.items():
        m.eval()
        out[name] = {"parameters": count_parameters(m), "nonzero_parameters": nonzero_parameters(m),
                     "bytes": state_bytes(m), "macs": count_macs(lambda m=m: m(x1))}
    lat1 = _interleaved({k: _infer(m, x1) for k, m in models.items()}, args.warmup, args.repeats)
    latb = _interleaved({k: _infer(m, xb) for k, m in models.items()}, args.warmup, args.repeats)
    trained = {k: copy_for_training(m) for k, m in models.items() if k != "masked_baked"}
    train = _interleaved({k: _train_step(m, xb, yb) for k, m in trained.items()}, args.warmup,
                         max(args.repeats // 2, 2))
    for name in models:
        out[name]["infer_ms_batch1"] = lat1[name]
        out[name][f"infer_ms_batch{args.batch}"] = latb[name]
        if name in train:
            out[name][f"train_step_ms_batch{args.batch}"] = train[name]
    speedup = latb["dense"] / latb["cropped"]
    masked_speedup = latb["dense"] / latb["masked"]
    result = {
        "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__, "threads": args.threads,
        "batch": args.batch, "density": args.density, "repeats": args.repeats, "warmup": args.warmup,
        "smoke": args.smoke, "cropped_widths": plan.widths, "models": out,
        "speedup": {
            f"infer_batch{args.batch}_dense_over_cropped": speedup,
            "infer_batch1_dense_over_cropped": lat1["dense"] / lat1["cropped"],
            f"train_step_batch{args.batch}_dense_over_cropped": train["dense"] / train["cropped"],
            f"infer_batch{args.batch}_dense_over_masked": masked_speedup,
            f"infer_batch{args.batch}_dense_over_masked_baked": latb["dense"] / latb["masked_baked"],
            f"train_step_batch{args.batch}_dense_over_masked": train["dense"] / train["masked"],
        },
        "bar": {"cropped_at_least_2x_at_batch64": speedup >= 2.0, "masked_not_faster": masked_speedup <= 1.1},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    if not args.smoke:
        print(json.dumps(result, indent=2))
    return result


def copy_for_training(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model).train()


if __name__ == "__main__":
    main()
