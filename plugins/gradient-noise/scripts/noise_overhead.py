"""Step time of SGD with and without annealed gradient noise (CPU), the card's "Performance notes".

Two models, as the card asks: the paper's 20 x 50 ReLU MLP (batch 100 of 784-d inputs) and a mid-size
builtin MetaFormer (attention mixers, depths [2, 2, 6, 2], dims [32, 64, 128, 256], batch 32 of
32 x 32 x 3 images). For each, the two loops (forward, backward, clip 10, [noise], SGD step) alternate
``--repeats`` times in the same process, so drifts of a shared machine hit both; the medians and
their ratio are written to ``reports/overhead.json`` (quoted by the README)::

    python plugins/gradient-noise/scripts/noise_overhead.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from forwardkit_gradient_noise.callback import AnnealedGradientNoise
from forwardkit_gradient_noise.model import DeepReLUMLP
from torch import Tensor, nn

import forwardkit

OUT = Path(__file__).resolve().parents[1] / "reports" / "overhead.json"
METAFORMER: dict[str, Any] = {"name": "metaformer", "depths": [2, 2, 6, 2], "dims": [32, 64, 128, 256],
                              "in_channels": 3, "num_classes": 10}


def mlp_case(batch: int) -> tuple[nn.Module, Tensor, Tensor]:
    """The paper's 20 x 50 MLP and a batch ``(B, 784)``."""
    model = DeepReLUMLP(depth=20, width=50, in_features=784, init="he")
    return model, torch.rand(batch, 784), torch.randint(0, 10, (batch,))


def metaformer_case(batch: int) -> tuple[nn.Module, Tensor, Tensor]:
    """A mid-size builtin MetaFormer and a channels-last batch ``(B, 32, 32, 3)``."""
    model = forwardkit.build_model(dict(METAFORMER))
    return model, torch.rand(batch, 32, 32, 3), torch.randint(0, 10, (batch,))


def time_loop(case: Callable[[int], tuple[nn.Module, Tensor, Tensor]], batch: int, noise: bool, steps: int) -> float:
    """Milliseconds per SGD step (forward, backward, clip 10, noise if ``noise``, update)."""
    torch.manual_seed(0)
    model, x, y = case(batch)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    cb = AnnealedGradientNoise(eta=0.01, seed=0)
    start = time.perf_counter()
    for t in range(steps):
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        if noise:
            cb.apply(model, t)
        opt.step()
    return (time.perf_counter() - start) / steps * 1e3


def measure(case: Callable[[int], tuple[nn.Module, Tensor, Tensor]], batch: int, steps: int,
            repeats: int) -> dict[str, Any]:
    """Alternating plain / noisy loops; medians, ratio noisy / plain, and every repeat."""
    time_loop(case, batch, True, max(2, steps // 10))  # warm-up
    plain, noisy = [], []
    for _ in range(repeats):
        plain.append(time_loop(case, batch, False, steps))
        noisy.append(time_loop(case, batch, True, steps))
    a, b = statistics.median(plain), statistics.median(noisy)
    params = sum(p.numel() for p in case(1)[0].parameters())
    return {"batch": batch, "steps": steps, "params": params, "ms_per_step_plain": a, "ms_per_step_noise": b,
            "ratio": b / a, "overhead": b / a - 1.0, "plain_ms": plain, "noise_ms": noisy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    models = {"mlp_20x50": measure(mlp_case, 100, args.steps, args.repeats),
              "metaformer_mid": {**measure(metaformer_case, 32, max(5, args.steps // 5), args.repeats),
                                 "config": METAFORMER}}
    out = {"script": "plugins/gradient-noise/scripts/noise_overhead.py", "threads": args.threads,
           "repeats": args.repeats, "torch": torch.__version__, "machine": platform.machine(),
           "load_average_before": load_before, "load_average_after": os.getloadavg()[0],
           "noise": {"eta": 0.01, "gamma": 0.55}, "models": models}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    for name, m in models.items():
        print(f"{name}: {m['ms_per_step_plain']:.3f} ms/step without noise, {m['ms_per_step_noise']:.3f} with, "
              f"ratio {m['ratio']:.3f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
