"""Cost benchmark (card "Performance notes"): training steps per second of DANN against source-only training of the
reference CNN (Fig. 4a), in one process.

Each candidate is one full training step on the same data (forward, backward, SGD update with momentum), timed in
interleaved rounds (``forwardkit.measure.interleaved_ms``); ratios are per-round medians over the source-only
step (``median_ratios``). Candidates, all on ``batch`` labelled source rows:

* ``source_only`` — the bare ``dann_mnist_cnn`` (no domain head), cross-entropy on the source rows: the baseline;
* ``dann`` — the CNN with the FC100-FC1 domain head at ``features``, the ``dann`` rule on ``batch`` source +
  ``batch`` target rows (one forward of both, label loss + domain loss through the GRL);
* ``dann_lambda0`` — the same with lambda_max = 0 (the reproduction's source-only arm: the cost of DANN's
  forward, the gradient of the features from the labels only).

The card expects DANN to cost about twice a source-only step for the same number of labelled samples (the target
half-batch through the feature extractor, plus a small MLP). Also reported: multiply-accumulates of one forward of
each (``count_macs``) and parameters.

    python plugins/dann/benchmarks/cost.py [--smoke] [--out PATH] [--threads N] [--batch B] [--rounds R]

Writes plugins/dann/reports/cost.json (``--smoke``: a tiny CNN, 2 rounds, no file unless ``--out``).
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from forwardkit_dann.head import attach_domain_head
from forwardkit_dann.rule import DANNRule

import forwardkit
from forwardkit.data import forward_batch
from forwardkit.interfaces import RunContext
from forwardkit.measure import count_macs, count_parameters, interleaved_ms, median_ratios, medians, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
BASELINE = "source_only"
FULL_MODEL: dict[str, Any] = {"name": "dann_mnist_cnn"}
SMOKE_MODEL: dict[str, Any] = {"name": "dann_mnist_cnn", "conv_channels": [4, 8], "hidden": [16], "image_size": 16}


def _batch(model: dict[str, Any], batch: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    size = int(model.get("image_size", 28))
    return {"x": torch.rand(batch, size, size, 3, generator=g), "y": torch.randint(0, 10, (batch,), generator=g),
            "target_x": torch.rand(batch, size, size, 3, generator=g)}


def _forward(net: torch.nn.Module, batch: dict[str, torch.Tensor]) -> Callable[[], Any]:
    """One forward of ``batch`` through ``net`` (``forward_batch``: DANN's batches give both domains' outputs)."""

    def call() -> Any:
        return forward_batch(net, batch)

    return call


def _rule_step(rule: DANNRule, ctx: RunContext, data: dict[str, torch.Tensor]) -> Callable[[], None]:
    def call() -> None:
        rule.step(data, ctx)

    return call


def candidates(model: dict[str, Any], batch: int, *, steps: int = 1000) -> tuple[dict[str, Callable[[], None]],
                                                                                 dict[str, Any]]:
    """One training step per candidate (each on its own model and optimizer), and their static figures."""
    data = _batch(model, batch, 0)
    source = {"x": data["x"], "y": data["y"]}
    torch.manual_seed(0)
    plain = forwardkit.build_model(model)
    opt = torch.optim.SGD(plain.parameters(), lr=0.01, momentum=0.9)

    def source_only() -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(plain(source["x"]), source["y"]).backward()
        opt.step()

    calls: dict[str, Callable[[], None]] = {BASELINE: source_only}
    nets: dict[str, torch.nn.Module] = {BASELINE: plain}
    def cross_entropy(out: Any, b: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return F.cross_entropy(out, b["y"])

    arms: tuple[tuple[str, dict[str, Any]], ...] = (("dann", {}), ("dann_lambda0", {"lambda_max": 0.0}))
    for name, config in arms:
        torch.manual_seed(0)
        net = attach_domain_head(forwardkit.build_model(model), tap="features", hidden=[100])
        rule = DANNRule(total_steps=steps, **config)
        ctx = RunContext(model=net, loss_fn=cross_entropy, total_steps=steps)
        rule.setup(net, ctx)
        calls[name] = _rule_step(rule, ctx, data)
        nets[name] = net
    figures = {
        "parameters": {n: count_parameters(m) for n, m in nets.items()},
        "forward_macs": {BASELINE: count_macs(_forward(plain, source)),
                         **{n: count_macs(_forward(m, data)) for n, m in nets.items() if n != BASELINE}},
    }
    return calls, figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="a tiny CNN and 2 rounds (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64, help="labelled source rows per step (DANN adds as many target)")
    ap.add_argument("--rounds", type=int, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = SMOKE_MODEL if args.smoke else FULL_MODEL
    batch = 8 if args.smoke else args.batch
    rounds = args.rounds or (2 if args.smoke else 30)
    warmup = 0 if args.smoke else 5
    calls, figures = candidates(model, batch)
    times = interleaved_ms(calls, rounds=rounds, warmup=warmup)
    med = medians(times)
    result: dict[str, Any] = {
        "smoke": args.smoke, "threads": args.threads, "torch": torch.__version__, "machine": platform.machine(),
        "model": model, "batch_source": batch, "batch_target": batch, "rounds": rounds, "warmup": warmup,
        "median_ms": med,
        "steps_per_s": {n: 1000.0 / ms for n, ms in med.items()},
        "time_ratio_over_source_only": median_ratios(times, BASELINE),
        **figures,
        "macs_ratio_over_source_only": {n: m / max(figures["forward_macs"][BASELINE], 1)
                                        for n, m in figures["forward_macs"].items()},
        "note": "one training step (forward, backward, SGD momentum update) per call; ratios are medians over "
                "rounds of a candidate's time over source_only's in the same round (above 1: slower); dann and "
                "dann_lambda0 process batch source + batch target rows, source_only batch source rows",
    }
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    print(json.dumps({"median_ms": med, "ratio": result["time_ratio_over_source_only"]}, indent=1))
    return result


if __name__ == "__main__":
    main()
