"""Cost benchmark (card "Performance notes"): CPU eval throughput of the routing ViT with hard gates and
gather/scatter, at the card's budgets mu = 1.0, 0.6, 0.4, against the static PVT-like path of the same
network, at batch 1 and 64; and the price of the dense form (the dense masked eval, and a dense training step
against the static network's).

Everything in one process, interleaved rounds, paired per-round ratios (``forwardkit.measure``). The dynamic
models are the same weights with every gate's transform and down biases shifted by one constant, found by
bisection so that the realised grid FLOPs / C_max on the timed images is mu (an untrained routing: the token
counts, not the learned pattern, set the cost). Models: ``reproduction`` (the reproduction's network, stem
stride 4, widths 16/32/64) and ``card`` (the card's reference composition, stem stride 2, widths 32/64/128).
Inputs: ``multi_scale_digits`` test images (``--smoke``: random images of a tiny model).

    python plugins/dynamic-token-routing/benchmarks/cost.py [--smoke] [--out PATH] [--threads N]

Writes plugins/dynamic-token-routing/reports/cost.json (``--smoke``: nothing unless ``--out``).
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from forwardkit_dynamic_token_routing.model import DynamicRoutingViT
from torch import Tensor, nn

import forwardkit
from forwardkit.measure import count_parameters, interleaved_ms, median_ratios, medians, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
BUDGETS = (1.0, 0.6, 0.4)
MODELS: dict[str, dict[str, Any]] = {
    "reproduction": {"stem_stride": 4, "widths": [16, 32, 64], "heads": [1, 2, 4]},
    "card": {"stem_stride": 2, "widths": [32, 64, 128], "heads": [1, 2, 4]},
}
SMOKE_MODEL: dict[str, Any] = {"img_size": 16, "stem_stride": 2, "num_layers": 3, "widths": [8, 16, 16],
                               "heads": [1, 2, 2]}


def shift_gates(model: DynamicRoutingViT, delta: float) -> None:
    """Set every gate's (transform, identity, down) biases to the configured initial ones + (delta, 0, delta)."""
    base = torch.tensor(model.config.gate.init_bias)
    for node in model.all_nodes():
        with torch.no_grad():
            node.gate.proj.bias.copy_(base + torch.tensor([delta, 0.0, delta]))


@torch.no_grad()
def grid_ratio(model: DynamicRoutingViT, x: Tensor) -> float:
    """Realised grid FLOPs / C_max on ``x`` (eval, hard gates), batch mean."""
    trace = model.eval().forward_routing(x, mode="gather").trace
    return float(trace.grid_flops("hard").mean()) / model.max_grid_flops


def calibrate(model: DynamicRoutingViT, x: Tensor, target: float, *, steps: int = 18) -> tuple[float, float]:
    """The bias shift whose realised grid ratio on ``x`` is closest to ``target`` (bisection on [-4, 4]); returns
    ``(shift, ratio)`` and leaves the model shifted."""
    lo, hi = -4.0, 4.0
    best = (0.0, float("inf"), 0.0)
    for _ in range(steps):
        mid = (lo + hi) / 2
        shift_gates(model, mid)
        ratio = grid_ratio(model, x)
        if abs(ratio - target) < best[1]:
            best = (mid, abs(ratio - target), ratio)
        if ratio < target:
            lo = mid
        else:
            hi = mid
    shift_gates(model, best[0])
    return best[0], best[2]


def _eval(fn: Callable[[Tensor], Any], x: Tensor) -> Callable[[], Any]:
    def call() -> None:
        with torch.inference_mode():
            fn(x)
    return call


def _train_step(model: nn.Module, x: Tensor, y: Tensor) -> Callable[[], Any]:
    def call() -> None:
        model.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
    return call


def images(n: int, cfg: dict[str, Any], smoke: bool) -> Tensor:
    """``n`` test images of ``multi_scale_digits`` (random ones with ``smoke``)."""
    if smoke:
        return torch.randn(n, cfg["img_size"], cfg["img_size"], 1, generator=torch.Generator().manual_seed(0))
    data = forwardkit.create("dataset", "multi_scale_digits", seed=0).split("test")
    return data.x[:n]


def bench_model(name: str, cfg: dict[str, Any], batches: list[int], rounds: int, warmup: int,
                smoke: bool, calibration_steps: int = 18) -> dict[str, Any]:
    torch.manual_seed(0)
    dynamic = DynamicRoutingViT(**cfg).eval()
    static = DynamicRoutingViT(**cfg, static_path="pvt").eval()
    static.load_state_dict(dynamic.state_dict())
    copies = {}
    x_all = images(max(batches), {"img_size": dynamic.config.img_size}, smoke)
    out: dict[str, Any] = {"config": dynamic.config.model_dump(mode="json", exclude={"gate", "token_mixer"}),
                           "parameters": count_parameters(dynamic), "max_grid_flops": dynamic.max_grid_flops,
                           "static_flops": static.static_flops(), "batches": {}}
    for batch in batches:
        x = x_all[:batch]
        entry: dict[str, Any] = {"budgets": {}}
        calls: dict[str, Callable[[], Any]] = {"static": _eval(static, x)}
        flops = {"static": static.static_flops()}
        for mu in BUDGETS:
            model = copies.setdefault(mu, DynamicRoutingViT(**cfg).eval())
            model.load_state_dict(dynamic.state_dict())
            shift, ratio = calibrate(model, x, mu, steps=calibration_steps)
            key = f"dynamic_mu{mu:g}"
            with torch.no_grad():
                trace = model.forward_routing(x, mode="gather").trace
            flops[key] = float(trace.flops().mean())
            entry["budgets"][key] = {"target": mu, "bias_shift": shift, "grid_flops_ratio": ratio}
            calls[key] = _eval(lambda t, m=model: m.forward_routing(t, mode="gather").logits, x)
            if mu == 0.6:
                calls["dense_mu0.6"] = _eval(lambda t, m=model: m.forward_routing(t, mode="dense").logits, x)
                flops["dense_mu0.6"] = float(flops[key])
        times = interleaved_ms(calls, rounds=rounds, warmup=warmup)
        ratio = median_ratios(times, "static")
        med = medians(times)
        entry.update({
            "median_ms": med,
            "images_per_s": {k: batch * 1e3 / v for k, v in med.items()},
            "time_ratio_over_static": ratio,
            "throughput_ratio_vs_static": {k: 1.0 / v for k, v in ratio.items()},
            "flops_per_image": flops,
            "flops_ratio_vs_static": {k: v / flops["static"] for k, v in flops.items()},
        })
        out["batches"][str(batch)] = entry
    out["train_step"] = bench_training(dynamic, static, x_all[: max(batches)], rounds, warmup)
    return out


def bench_training(dynamic: DynamicRoutingViT, static: DynamicRoutingViT, x: Tensor, rounds: int,
                   warmup: int) -> dict[str, Any]:
    """One training step (forward + backward, soft gates, dense full grid at the initial gates) of the dynamic
    model against the static network's, same batch."""
    shift_gates(dynamic, 0.0)
    y = torch.zeros(x.shape[0], dtype=torch.long)
    dynamic.train()
    static.train()
    times = interleaved_ms({"static": _train_step(static, x, y), "dynamic_dense": _train_step(dynamic, x, y)},
                           rounds=max(rounds // 2, 1), warmup=min(warmup, 1))
    dynamic.eval()
    static.eval()
    return {"batch": int(x.shape[0]), "median_ms": medians(times),
            "time_ratio_over_static": median_ratios(times, "static")}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="a tiny model, 2 rounds (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.smoke:
        models, batches, rounds, warmup, steps = {"smoke": SMOKE_MODEL}, [1, 4], 2, 0, 8
    else:
        models, batches, rounds, warmup, steps = MODELS, [1, 64], 15, 2, 18
    result = {"threads": args.threads, "torch": torch.__version__, "machine": platform.machine(),
              "rounds": rounds, "warmup": warmup, "smoke": args.smoke, "budgets": list(BUDGETS),
              "models": {name: bench_model(name, cfg, batches, rounds, warmup, args.smoke, steps)
                         for name, cfg in models.items()},
              "note": "ratios are medians over rounds of time / the static network's time in the same round "
                      "(time_ratio above 1: slower than static); throughput_ratio = 1 / time_ratio; dynamic "
                      "models are untrained with calibrated gate biases (realised grid FLOPs / C_max = mu)"}
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    summary = {f"{m} b{b}": e["throughput_ratio_vs_static"] for m, v in result["models"].items()
               for b, e in v["batches"].items()}
    print(json.dumps(summary, indent=1))
    return result


if __name__ == "__main__":
    main()
