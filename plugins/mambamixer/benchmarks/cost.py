"""Cost benchmark (card "Performance notes", paper §3.3 "time complexity ... linear with respect to sequence
length"): forward+backward time of the selective scan against attention, and its scaling exponent in L.

Everything in one process, interleaved rounds, paired per-round ratios (``forwardkit.measure``):

* ``scan``: ``selective_scan`` in its fast ``chunked`` form and its paper-literal ``sequential`` form against
  ``torch.nn.functional.scaled_dot_product_attention`` (the named baseline), forward + backward, batch 4, for
  L = 64 ... 4096: the S6 scan at width E = 128 (a D = 64 block, expand 2) with state N = 16; attention on
  D = 64 (2 heads of 32). Per L the median times and the ratios over attention; per form the fitted log-log
  exponent of time against L (least squares over the four largest L, and over all of them);
* ``mixers``: tokens per second of the whole ``selective_token_mixer`` (D = 64, causal) against the builtin
  ``attention`` mixer (D = 64, heads of 32), forward + backward, batch 2, L = 64, 256, 1024 (the card's sizes);
* ``params``: parameter counts of the ViM2 scales (224 px, 1000 classes) against the paper's Table 2.

The mamba-ssm CUDA kernels (the paper's speed claims) are not used: this is the pure-PyTorch scan on the CPU.

    python plugins/mambamixer/benchmarks/cost.py [--smoke] [--out PATH] [--threads N]

Writes plugins/mambamixer/reports/cost.json (``--smoke``: tiny L, a temporary file unless --out).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from forwardkit_mambamixer.scan import selective_scan
from forwardkit_mambamixer.vim2 import ViM2Tiny
from torch import Tensor

import forwardkit
from forwardkit.measure import interleaved_ms, median_ratios, medians, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
BASELINE = "attention"
#: the paper's parameter counts (Table 2, millions) of the ViM2 scales
PAPER_PARAMS_M = {"vim2_t": 20.0, "vim2_s": 43.0, "vim2_b": 74.0}


def scan_inputs(length: int, width: int, state: int, batch: int = 1) -> list[Tensor]:
    """``u, delta, A, B, C, D`` of ``batch`` sequences, every one requiring grad (Delta in Mamba's initial range)."""
    g = torch.Generator().manual_seed(length)
    u = torch.randn(batch, length, width, generator=g)
    delta = torch.rand(batch, length, width, generator=g) * 0.099 + 0.001
    A = -torch.arange(1, state + 1, dtype=torch.float32).repeat(width, 1)
    B, C = torch.randn(batch, length, state, generator=g), torch.randn(batch, length, state, generator=g)
    return [t.requires_grad_() for t in (u, delta, A, B, C, torch.ones(width))]


def attention_inputs(length: int, dim: int, heads: int, batch: int = 1) -> list[Tensor]:
    g = torch.Generator().manual_seed(length)
    return [torch.randn(batch, heads, length, dim // heads, generator=g).requires_grad_() for _ in range(3)]


def _fwd_bwd(fn: Callable[[], Tensor], leaves: list[Tensor]) -> Callable[[], None]:
    def call() -> None:
        for t in leaves:
            t.grad = None
        fn().sum().backward()
    return call


def _mixer_step(mixer: torch.nn.Module, x: Tensor) -> Callable[[], None]:
    def call() -> None:
        mixer.zero_grad(set_to_none=True)
        mixer(x).sum().backward()
    return call


def fit_exponent(lengths: list[int], times: list[float]) -> float:
    """Least-squares slope of log(time) against log(L)."""
    xs, ys = [math.log(n) for n in lengths], [math.log(t) for t in times]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def bench_scan(lengths: list[int], rounds: int, warmup: int, *, batch: int = 4, width: int = 128, state: int = 16,
               dim: int = 64, heads: int = 2) -> dict[str, Any]:
    rows = []
    for length in lengths:
        scan = scan_inputs(length, width, state, batch)
        qkv = attention_inputs(length, dim, heads, batch)
        calls = {
            "chunked": _fwd_bwd(lambda s=scan: selective_scan(*s, mode="chunked"), scan),
            "sequential": _fwd_bwd(lambda s=scan: selective_scan(*s, mode="sequential"), scan),
            BASELINE: _fwd_bwd(lambda q=qkv: F.scaled_dot_product_attention(*q), qkv),
        }
        times = interleaved_ms(calls, rounds=rounds, warmup=warmup)
        rows.append({"L": length, "median_ms": medians(times), "ratio_over_attention": median_ratios(times, BASELINE),
                     "chunked_over_sequential": median_ratios(times, "sequential")["chunked"]})
    top = lengths[-4:]
    exponents = {}
    for form in ("chunked", "sequential", BASELINE):
        ms = [r["median_ms"][form] for r in rows]
        exponents[form] = {"largest_4": fit_exponent(top, ms[-4:]) if len(top) >= 2 else math.nan,
                           "all": fit_exponent(lengths, ms)}
    return {"shapes": {"scan": f"({batch}, L, E={width}), N={state}",
                       "attention": f"({batch}, {heads}, L, {dim // heads})"},
            "rows": rows, "exponent": exponents, "lengths_of_largest_4": top}


def bench_mixers(lengths: list[int], rounds: int, warmup: int, *, dim: int = 64,
                 batch: int = 2) -> list[dict[str, Any]]:
    torch.manual_seed(0)
    mixers = {"selective_token_mixer": forwardkit.create("token_mixer", "selective_token_mixer", dim=dim),
              BASELINE: forwardkit.create("token_mixer", "attention", dim=dim, head_dim=32)}
    rows = []
    for length in lengths:
        x = torch.randn(batch, length, dim)
        calls = {name: _mixer_step(m, x) for name, m in mixers.items()}
        times = interleaved_ms(calls, rounds=rounds, warmup=warmup)
        med = medians(times)
        rows.append({"L": length, "batch": batch, "median_ms": med,
                     "tokens_per_s": {k: batch * length / (v / 1e3) for k, v in med.items()},
                     "ratio_over_attention": median_ratios(times, BASELINE)})
    return rows


def param_counts() -> dict[str, Any]:
    with torch.device("meta"):
        counts = {p: sum(t.numel() for t in ViM2Tiny(preset=p, image_size=224, num_classes=1000).parameters())
                  for p in PAPER_PARAMS_M}
    return {p: {"params": n, "paper_millions": PAPER_PARAMS_M[p], "ratio_to_paper": n / (PAPER_PARAMS_M[p] * 1e6)}
            for p, n in counts.items()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny L and 2 rounds (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    if args.smoke:
        scan_lengths, mixer_lengths, rounds, warmup = [16, 32, 64], [16], 2, 0
    else:
        scan_lengths, mixer_lengths, rounds, warmup = [64, 128, 256, 512, 1024, 2048, 4096], [64, 256, 1024], 5, 1
    result = {"threads": args.threads, "torch": torch.__version__, "machine": platform.machine(), "rounds": rounds,
              "warmup": warmup, "smoke": args.smoke, "scan": bench_scan(scan_lengths, rounds, warmup),
              "mixers": bench_mixers(mixer_lengths, rounds, warmup), "params": param_counts(),
              "note": "forward+backward; ratios are medians over rounds of time / attention's time in the same round "
                      "(above 1: slower than attention); exponents are least-squares slopes of log median time "
                      "against log L. Pure-PyTorch scan on the CPU, not the paper's CUDA kernel."}
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    print(json.dumps({"exponent": result["scan"]["exponent"],
                      "ratio_over_attention": {r["L"]: r["ratio_over_attention"] for r in result["scan"]["rows"]}},
                     indent=1))
    return result


if __name__ == "__main__":
    main()
