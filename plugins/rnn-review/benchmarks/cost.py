"""Cost benchmark (card "Performance notes"): tokens/s of the recurrent mixers, both backends, against attention.

All mixers are O(L) in time and O(1) in state but sequential in L; the reference backend loops in Python (about
L kernel launches per layer), the torch backend runs PyTorch's fused nn.RNN/LSTM/GRU kernel on the same
parameters. Everything in one process, interleaved rounds, paired per-round ratios (``forwardkit.measure``),
for L in {64, 256, 1024}, batch 32, C = 64, forward (inference mode) and forward+backward (training mode):

* ``elman`` / ``lstm`` / ``gru`` ``_reference`` and ``_torch``: this plugin's mixers (H = C);
* ``attention``: the builtin ``attention`` token mixer, causal, 4 heads of 16 (QKV and output projections);
* ``sdpa``: bare ``scaled_dot_product_attention`` of the tokens with themselves, causal, one head (no
  projections: a lower bound on attention's cost).

Ratios are over ``attention`` in the same round: ``time_ratio`` (above 1: slower than attention) and
``throughput_ratio`` = 1 / time_ratio (tokens/s relative to attention).

    python plugins/rnn-review/benchmarks/cost.py [--smoke] [--out PATH] [--threads N] [--device cpu|cuda]

Writes plugins/rnn-review/reports/cost.json (``--smoke``: tiny shapes, no file unless --out).
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import forwardkit
from forwardkit.measure import interleaved_ms, median_ratios, medians, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
BASELINE = "attention"
CELLS = {"elman": "elman_rnn_mixer", "lstm": "lstm_mixer", "gru": "gru_mixer"}


class BareSDPA(nn.Module):
    """``softmax(x x^T / sqrt(C) + causal mask) x`` on ``(B, L, C)``: one head, no projections."""

    def forward(self, x: Tensor) -> Tensor:
        return F.scaled_dot_product_attention(x, x, x, is_causal=True)


def mixers(dim: int) -> dict[str, nn.Module]:
    """The timed mixers for ``dim`` channels."""
    out: dict[str, nn.Module] = {
        BASELINE: forwardkit.create("token_mixer", "attention", dim=dim, head_dim=min(16, dim), causal=True),
        "sdpa": BareSDPA(),
    }
    for short, name in CELLS.items():
        for backend in ("reference", "torch"):
            out[f"{short}_{backend}"] = forwardkit.create("token_mixer", name, dim=dim, backend=backend)
    return out


def _forward(module: nn.Module, x: Tensor) -> Callable[[], Any]:
    def call() -> None:
        with torch.inference_mode():
            module(x)
    return call


def _forward_backward(module: nn.Module, x: Tensor) -> Callable[[], Any]:
    xg = x.clone().requires_grad_(True)

    def call() -> None:
        module.zero_grad(set_to_none=True)
        xg.grad = None
        module(xg).sum().backward()
    return call


def _row(shape: list[int], mode: str, times: dict[str, list[float]]) -> dict[str, Any]:
    med = medians(times)
    tokens = shape[0] * shape[1]
    ratios = median_ratios(times, BASELINE)
    return {"shape": shape, "pass": mode, "median_ms": med,
            "tokens_per_s": {k: tokens / (v / 1e3) for k, v in med.items()},
            "time_ratio": ratios, "throughput_ratio": {k: 1.0 / v for k, v in ratios.items()}}


def bench(lengths: list[int], batch: int, dim: int, rounds: int, warmup: int, device: torch.device) -> list[dict]:
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    built = {k: m.to(device) for k, m in mixers(dim).items()}
    rows = []
    for length in lengths:
        x = torch.randn(batch, length, dim, device=device)
        for m in built.values():
            m.eval()
        calls = {name: _forward(m, x) for name, m in built.items()}
        rows.append(_row([batch, length, dim], "fwd", interleaved_ms(calls, rounds=rounds, warmup=warmup,
                                                                     sync=sync)))
        for m in built.values():
            m.train()
        calls = {name: _forward_backward(m, x) for name, m in built.items()}
        rows.append(_row([batch, length, dim], "fwd+bwd", interleaved_ms(calls, rounds=rounds, warmup=warmup,
                                                                         sync=sync)))
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny shapes and 2 rounds (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.smoke:
        lengths, batch, dim, rounds, warmup = [8, 16], 2, 8, 2, 0
    else:
        lengths, batch, dim, rounds, warmup = [64, 256, 1024], 32, 64, 7, 1
    result = {"threads": args.threads, "device": str(device), "torch": torch.__version__,
              "machine": platform.machine(), "rounds": rounds, "warmup": warmup, "smoke": args.smoke,
              "batch": batch, "dim": dim, "lengths": lengths,
              "mixers": bench(lengths, batch, dim, rounds, warmup, device),
              "note": "time_ratio: median over rounds of time / attention's time in the same round (above 1: "
                      "slower than the builtin causal attention mixer); throughput_ratio = 1 / time_ratio; "
                      "sdpa is bare causal scaled_dot_product_attention without projections"}
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    print(json.dumps({f"L={r['shape'][1]} {r['pass']}": {k: round(v, 3) for k, v in r["throughput_ratio"].items()}
                      for r in result["mixers"]}, indent=1))
    return result


if __name__ == "__main__":
    main()
