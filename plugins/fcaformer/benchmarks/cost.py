"""Cost benchmark (card "Performance notes"): what forward cross attention adds, stage by stage and for whole
models, measured against the same stage / model without cross tokens, in one process.

* **Stages** (batch 64, the card's L2 shapes 14x14x320 (7 blocks, 10 heads) and 7x7x480 (2 blocks, 15 heads),
  and the tiny model's 7x7x48 (4 blocks) and 4x4x64 (2 blocks)): ``FcaStage`` with cross tokens (variant (a))
  and without (variant (b), TinyViT-style attention + local conv); CPU time of a forward (inference mode) and a
  forward+backward, interleaved rounds, paired per-round ratios (``forwardkit.measure``); parameters, MACs
  (torch's FLOP counter) and the peak bytes of one forward+backward (profiler memory events), each as a ratio
  with / without; keys per block (own N, cross M_i).
* **Whole models**: ``tiny`` (28 px, batch 64) and ``fcaformer_l0`` (224 px, batch 8) with vs without cross
  tokens, the same figures; and the MACs of ``fcaformer_l1`` / ``l2`` at 224 px against the published 1.4 / 3.6
  G (README / code comments).

    python plugins/fcaformer/benchmarks/cost.py [--smoke] [--out PATH] [--threads N]

Writes plugins/fcaformer/reports/cost.json (``--smoke``: tiny shapes, no file unless ``--out``).
timm's TinyViT block (the card's parity reference for variant (b)) cannot be installed here (it needs
torchvision); tests/test_mechanism.py checks block 0 against a TinyViT block written out instead.
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from forwardkit_fcaformer.model import FcaFormer
from forwardkit_fcaformer.stage import FcaStage
from torch import Tensor, nn

from forwardkit.measure import (
    count_macs,
    count_parameters,
    interleaved_ms,
    median_ratios,
    medians,
    peak_memory_bytes,
    save_report,
)

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
WITH, WITHOUT = "with_cross", "without_cross"

#: (label, batch, grid side, dim, depth, head_dim) of the timed stages
STAGES = [("l2_stage3", 64, 14, 320, 7, 32), ("l2_stage4", 64, 7, 480, 2, 32),
          ("tiny_stage3", 64, 7, 48, 4, 16), ("tiny_stage4", 64, 4, 64, 2, 16)]
SMOKE_STAGES = [("smoke_stage", 2, 5, 16, 3, 8)]
#: (label, batch, model config) of the timed whole models
MODELS = [("tiny", 64, {"preset": "tiny", "in_channels": 1, "num_classes": 10}),
          ("fcaformer_l0", 8, {"preset": "fcaformer_l0"})]
SMOKE_MODELS = [("tiny", 2, {"preset": "tiny", "in_channels": 1, "num_classes": 10}),
                ("plain_small", 2, {"preset": "fcaformer_l0", "image_size": 32, "dims": [16], "depths": [3],
                                    "head_dim": 8})]
#: published MACs (G) at 224 px: README "MACs" column / code comments
PUBLISHED_GMACS = {"fcaformer_l1": 1.4, "fcaformer_l2": 3.6}


def _forward(module: nn.Module, x: Tensor) -> Callable[[], Any]:
    def call() -> None:
        with torch.inference_mode():
            module(x)
    return call


def _forward_backward(module: nn.Module, x: Tensor) -> Callable[[], Any]:
    def call() -> None:
        module.zero_grad(set_to_none=True)
        module(x).float().square().mean().backward()
    return call


def compare(built: dict[str, nn.Module], x: Tensor, rounds: int, warmup: int) -> dict[str, Any]:
    """Time, MACs, parameters and peak memory of the two variants on ``x``, with ratios with / without."""
    row: dict[str, Any] = {"input": list(x.shape)}
    for m in built.values():
        m.eval()
    fwd = interleaved_ms({k: _forward(m, x) for k, m in built.items()}, rounds=rounds, warmup=warmup)
    for m in built.values():
        m.train()
    fb = interleaved_ms({k: _forward_backward(m, x) for k, m in built.items()}, rounds=rounds, warmup=warmup)
    row["fwd_ms"], row["fwd_bwd_ms"] = medians(fwd), medians(fb)
    row["fwd_ratio"] = median_ratios(fwd, WITHOUT)[WITH]
    row["fwd_bwd_ratio"] = median_ratios(fb, WITHOUT)[WITH]
    for key, measure in (("params", count_parameters),
                         ("macs", lambda m: count_macs(_forward(m.eval(), x[:1]))),
                         ("peak_bytes_fwd_bwd", lambda m: peak_memory_bytes(_forward_backward(m.train(), x)))):
        values = {k: int(measure(m)) for k, m in built.items()}
        row[key] = values
        row[f"{key}_ratio"] = values[WITH] / values[WITHOUT]
    return row


def bench_stage(label: str, batch: int, side: int, dim: int, depth: int, head_dim: int, rounds: int,
                warmup: int) -> dict[str, Any]:
    built = {}
    for name, cross in ((WITH, True), (WITHOUT, False)):
        torch.manual_seed(0)
        built[name] = FcaStage(dim=dim, depth=depth, grid=(side, side), head_dim=head_dim, drop_paths=[0.0] * depth,
                               cross_tokens=cross)
    x = torch.randn(batch, side * side, dim)
    row = {"stage": label, "grid": side, "dim": dim, "depth": depth, "heads": dim // head_dim,
           "own_keys": side * side, "cross_keys_per_block": [b.n_cross for b in built[WITH].blocks]}
    row["mean_extra_key_fraction"] = sum(row["cross_keys_per_block"]) / (depth * side * side)
    row.update(compare(built, x, rounds, warmup))
    return row


def bench_model(label: str, batch: int, config: dict[str, Any], rounds: int, warmup: int) -> dict[str, Any]:
    built = {}
    for name, cross in ((WITH, True), (WITHOUT, False)):
        torch.manual_seed(0)
        built[name] = FcaFormer(**config, cross_tokens=cross)
    x = built[WITH].example_batch(batch)["x"]
    return {"model": label, "config": config, **compare(built, x, rounds, warmup)}


def published_macs(presets: list[str]) -> dict[str, Any]:
    out = {}
    for preset in presets:
        torch.manual_seed(0)
        model = FcaFormer(preset=preset).eval()
        x = model.example_batch(1)["x"]
        macs = count_macs(lambda m=model, x=x: m(x))
        out[preset] = {"gmacs": macs / 1e9, "published_gmacs": PUBLISHED_GMACS[preset],
                       "ratio_to_published": macs / 1e9 / PUBLISHED_GMACS[preset], "params": count_parameters(model)}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny shapes, 1 round (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    stages, models = (SMOKE_STAGES, SMOKE_MODELS) if args.smoke else (STAGES, MODELS)
    rounds, warmup = (1, 0) if args.smoke else (7, 1)
    result: dict[str, Any] = {
        "threads": args.threads, "torch": torch.__version__, "machine": platform.machine(), "rounds": rounds,
        "warmup": warmup, "smoke": args.smoke,
        "stages": [bench_stage(*s, rounds=rounds, warmup=warmup) for s in stages],
        "models": [bench_model(*m, rounds=rounds, warmup=warmup) for m in models],
        "published_macs": {} if args.smoke else published_macs(list(PUBLISHED_GMACS)),
        "note": "ratios are with cross tokens / without (variant (a) / variant (b)); times are medians over rounds "
                "of the paired per-round ratio; MACs from torch's FLOP counter (matmul, conv, attention) for one "
                "sample; peak bytes of one forward+backward from the CPU profiler's memory events",
    }
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    print(json.dumps({r.get("stage", r.get("model")): {"fwd": round(r["fwd_ratio"], 3),
                                                        "fwd_bwd": round(r["fwd_bwd_ratio"], 3),
                                                        "params": round(r["params_ratio"], 4)}
                      for r in result["stages"] + result["models"]}, indent=1))
    return result


if __name__ == "__main__":
    main()
