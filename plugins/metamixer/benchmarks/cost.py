"""Cost benchmark (card "Performance notes"): CPU latency of one token-mixer call, FFNified attention against
attention, sepconv and a ConvNeXt block's token mixing, and FFNet before and after ``reparam_fold``.

Everything in one process, interleaved rounds, paired per-round ratios (``forwardkit.measure``):

* mixers at the card's two shapes, 56x56x64 and 14x14x320 (batch 8), forward (inference mode) and
  forward+backward (training mode): ``ffnified_attention``, ``attention``, ``sepconv`` (metaformer-baselines),
  ``convnext_dwconv`` (a ConvNeXt block's token mixing written the way its reference code is: NCHW
  ``Conv2d(C, C, 7, groups=C)`` on a channels-last tensor; timm is not installable here) and, forward only,
  ``ffnified_attention`` after ``reparam_fold`` (the inference form). Ratios are over ``ffnified_attention``;
* FFNet ``tiny`` and ``ffnet_1`` forward before and after ``reparam_fold``: latency ratio, parameters and
  the largest output difference.

    python plugins/metamixer/benchmarks/cost.py [--smoke] [--out PATH] [--threads N]

Writes plugins/metamixer/reports/cost.json (``--smoke``: tiny shapes, a temporary file).
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from forwardkit_metamixer.ffnet import FFNet
from forwardkit_metamixer.reparam import fold_model
from torch import Tensor, nn

import forwardkit
from forwardkit.measure import count_parameters, interleaved_ms, median_ratios, medians, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
BASELINE = "ffnified_attention"


class ConvNeXtDWConv(nn.Module):
    """A ConvNeXt block's token mixing as its reference code runs it: ``(B, H, W, C)`` viewed NCHW with
    channels-last strides, a 7x7 depthwise ``Conv2d``, viewed back (no copies)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


def mixers(dim: int) -> dict[str, nn.Module]:
    """The timed mixers for ``dim`` channels (attention heads of 32 channels, as MetaFormer's)."""
    return {
        BASELINE: forwardkit.create("token_mixer", "ffnified_attention", dim=dim),
        "attention": forwardkit.create("token_mixer", "attention", dim=dim, head_dim=32 if dim % 32 == 0 else 16),
        "sepconv": forwardkit.create("token_mixer", "sepconv", dim=dim),
        "convnext_dwconv": ConvNeXtDWConv(dim),
    }


def _forward(module: nn.Module, x: Tensor) -> Callable[[], Any]:
    def call() -> None:
        with torch.inference_mode():
            module(x)
    return call


def _forward_backward(module: nn.Module, x: Tensor) -> Callable[[], Any]:
    def call() -> None:
        module.zero_grad(set_to_none=True)
        module(x).sum().backward()
    return call


def _row(shape: list[int], mode: str, times: dict[str, list[float]]) -> dict[str, Any]:
    return {"shape": shape, "pass": mode, "median_ms": medians(times),
            "ratio_over_ffnified": median_ratios(times, BASELINE)}


def bench_mixers(shapes: list[tuple[int, int, int]], rounds: int, warmup: int) -> list[dict[str, Any]]:
    rows = []
    for batch, side, dim in shapes:
        built = mixers(dim)
        x = torch.randn(batch, side, side, dim)
        for m in built.values():
            m.eval()
        folded = fold_model(built[BASELINE])
        calls = {name: _forward(m, x) for name, m in built.items()}
        calls[f"{BASELINE}_folded"] = _forward(folded, x)
        rows.append(_row([batch, side, side, dim], "fwd", interleaved_ms(calls, rounds=rounds, warmup=warmup)))
        for m in built.values():
            m.train()
        calls = {name: _forward_backward(m, x) for name, m in built.items()}
        rows.append(_row([batch, side, side, dim], "fwd+bwd", interleaved_ms(calls, rounds=rounds, warmup=warmup)))
    return rows


def bench_fold(presets: list[tuple[str, int]], rounds: int, warmup: int) -> dict[str, Any]:
    out = {}
    for preset, size in presets:
        torch.manual_seed(0)
        model = FFNet(preset=preset, in_channels=3, num_classes=10, image_size=size).eval()
        folded = fold_model(model)
        x = model.example_batch(2)["x"]
        with torch.inference_mode():
            diff = float((model(x) - folded(x)).abs().max())
        times = interleaved_ms({"before": _forward(model, x), "after": _forward(folded, x)}, rounds=rounds,
                               warmup=warmup)
        med = medians(times)
        out[preset] = {"input": list(x.shape), "latency_ms_before": med["before"], "latency_ms_after": med["after"],
                       "latency_ratio_after_over_before": median_ratios(times, "before")["after"],
                       "params_before": count_parameters(model), "params_after": count_parameters(folded),
                       "max_abs_output_diff": diff}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny shapes and 2 rounds (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    if args.smoke:
        shapes, presets, rounds, warmup = [(2, 8, 16)], [("tiny", 28)], 2, 0
    else:
        shapes, presets, rounds, warmup = [(8, 56, 64), (8, 14, 320)], [("tiny", 28), ("ffnet_1", 64)], 15, 2
    result = {"threads": args.threads, "torch": torch.__version__, "machine": platform.machine(),
              "rounds": rounds, "warmup": warmup, "smoke": args.smoke,
              "mixers": bench_mixers(shapes, rounds, warmup), "reparam_fold": bench_fold(presets, rounds, warmup),
              "note": "ratios are medians over rounds of time / ffnified_attention's time in the same round "
                      "(above 1: slower than ffnified_attention); convnext_dwconv stands in for timm's ConvNeXt "
                      "block, which cannot be installed here (it needs torchvision)"}
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    print(json.dumps({f"{r['shape']} {r['pass']}": r["ratio_over_ffnified"] for r in result["mixers"]}, indent=1))
    return result


if __name__ == "__main__":
    main()
