"""Cost of IBN-a / IBN-b against the plain ResNet (CPU), the card's "Performance notes".

The reproduction's reference ``resnet_ibn`` (stages [16, 32, 64, 128] x 2 BasicBlocks) on a batch of
128 RGB 28 x 28 digits-sized inputs, as ``variant`` none / a / b. In one process it measures, per
variant: parameters, MACs of one forward (torch's FLOP counter; norms are not counted, convolutions and
the head are), bytes of the tensors autograd saves for backward in one training forward (the
activation memory of a step), and the medians of a training step (forward, backward, SGD update) and of
an eval forward, the variants interleaved ``--repeats`` times so drifts of a shared machine hit all
three. Ratios are against ``none``. Writes ``reports/overhead.json`` (quoted by the README)::

    python plugins/ibn-net/scripts/ibn_overhead.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from forwardkit_ibn_net.config import ResNetIBNConfig
from forwardkit_ibn_net.model import ResNetIBN
from torch import Tensor, nn

from forwardkit.measure import count_macs, count_parameters

OUT = Path(__file__).resolve().parents[1] / "reports" / "overhead.json"
VARIANTS = ("none", "a", "b")
WIDTHS = [16, 32, 64, 128]


def build(variant: str) -> nn.Module:
    """The reproduction's model in ``variant``, from seed 0 (the same conv weights for every variant)."""
    torch.manual_seed(0)
    return ResNetIBN(ResNetIBNConfig(variant=variant, widths=WIDTHS, blocks=2))


def saved_bytes(model: nn.Module, x: Tensor) -> int:
    """Bytes of the tensors saved for backward by one training forward of ``x`` ``(B, H, W, C)``."""
    total = 0

    def pack(t: Tensor) -> Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x).sum()
    return total


def train_ms(model: nn.Module, x: Tensor, y: Tensor, steps: int) -> float:
    """Milliseconds per training step (forward, cross-entropy, backward, SGD update)."""
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return (time.perf_counter() - start) / steps * 1e3


def eval_ms(model: nn.Module, x: Tensor, steps: int) -> float:
    """Milliseconds per eval forward."""
    model.eval()
    start = time.perf_counter()
    with torch.no_grad():
        for _ in range(steps):
            model(x)
    return (time.perf_counter() - start) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 28, 28, 3, generator=gen)
    y = torch.randint(0, 10, (args.batch,), generator=gen)
    models = {v: build(v) for v in VARIANTS}
    load_before = os.getloadavg()[0]
    for m in models.values():  # warm-up
        train_ms(m, x, y, 1)
        eval_ms(m, x, 1)
    train: dict[str, list[float]] = {v: [] for v in VARIANTS}
    evals: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(args.repeats):
        for v, m in models.items():
            train[v].append(train_ms(m, x, y, args.steps))
            evals[v].append(eval_ms(m, x, args.steps))
    out: dict[str, Any] = {"script": "plugins/ibn-net/scripts/ibn_overhead.py", "batch": args.batch,
                           "steps": args.steps, "repeats": args.repeats, "threads": args.threads,
                           "torch": torch.__version__, "machine": platform.machine(), "widths": WIDTHS,
                           "load_average_before": load_before, "variants": {}}
    for v, m in models.items():
        fresh = build(v).eval()
        out["variants"][v] = {
            "params": count_parameters(m), "macs": count_macs(lambda f=fresh: f(x[:1])),
            "saved_bytes": saved_bytes(build(v), x),
            "train_ms": statistics.median(train[v]), "eval_ms": statistics.median(evals[v]),
            "train_ms_all": train[v], "eval_ms_all": evals[v],
        }
    base = out["variants"]["none"]
    for v in VARIANTS:
        d = out["variants"][v]
        d.update({key: d[name] / base[name] for key, name in (("params_ratio", "params"), ("macs_ratio", "macs"),
                                                              ("saved_bytes_ratio", "saved_bytes"),
                                                              ("train_ratio", "train_ms"), ("eval_ratio", "eval_ms"))})
        d["extra_params"] = d["params"] - base["params"]
    out["load_average_after"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    for v in VARIANTS:
        d = out["variants"][v]
        print(f"{v}: params {d['params']} (+{d['extra_params']}), MACs ratio {d['macs_ratio']:.3f}, saved bytes ratio "
              f"{d['saved_bytes_ratio']:.3f}, train {d['train_ms']:.1f} ms ({d['train_ratio']:.3f}x), eval "
              f"{d['eval_ms']:.1f} ms ({d['eval_ratio']:.3f}x)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
