"""Cost benchmark (card "Performance notes"): forward+backward time and peak memory of every Combiner factorisation
against ``torch.nn.functional.scaled_dot_product_attention`` (causal, full attention) as the sequence grows.

One process, heads of ``B = 1, h = 4, d = 64``, causal (LM), ``L`` in {256, 1024, 4096, 16384} (square grids
16^2 .. 128^2, so Fixed's segment and Axial's row are sqrt(L)). Per L, every mixer is timed in interleaved rounds
(``forwardkit.measure.interleaved_ms``), ratios over SDPA are per-round medians (``median_ratios``). Then:

* the fitted log-log exponent of time (and of peak memory) against L per mixer, least squares over every
  measured L and over the two largest (the paper: 1.5 for Fixed / Axial, ~1 for Logsparse, 2 for full);
* peak memory: the largest extra CPU memory held during one forward+backward call, from the allocator events
  ``torch.profiler`` records with ``profile_memory=True`` (each allocation and free with its size and time;
  the running sum's maximum, starting from what was allocated before the call). It counts tensors the call
  allocates (activations, saved tensors, gradients) and not the inputs that exist before it;
* SDPA is skipped at an L whose dense attention would pass ``--cap-gib`` (default 4 GiB): estimated as two
  ``B h L^2`` float32 matrices (the probabilities and their gradient, what the math kernel holds in a
  backward pass); the JSON records the skip and the estimate instead of running out of memory.

    python plugins/combiner/benchmarks/cost.py [--smoke] [--out PATH] [--threads N] [--cap-gib G]

Writes plugins/combiner/reports/cost.json (``--smoke``: tiny L, 2 rounds, no file unless ``--out``).
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
from forwardkit_combiner.attention import combiner_attention

from forwardkit.measure import interleaved_ms, median_ratios, medians, peak_memory_bytes, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
BASELINE = "sdpa"
VARIANTS = ("fixed", "logsparse", "axial_rowmajor", "axial_vertical", "axial_horizontal", "mixture")


def sdpa_bytes(batch: int, heads: int, length: int) -> int:
    """The dense estimate of full attention's memory in a backward pass: two ``B h L^2`` float32 matrices."""
    return 2 * batch * heads * length * length * 4


def heads(length: int, *, batch: int, num_heads: int, head_dim: int, seed: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(batch, num_heads, length, head_dim, generator=g).requires_grad_(True) for _ in range(3))


def calls(length: int, qkv: tuple[torch.Tensor, ...], with_sdpa: bool) -> dict[str, Callable[[], None]]:
    """One forward+backward call per mixer on the same heads (gradients reset before each)."""
    q, k, v = qkv
    side = math.isqrt(length)
    scale = q.shape[-1] ** -0.5

    def run(fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def call() -> None:
            for t in qkv:
                t.grad = None
            fn().sum().backward()
        return call

    out: dict[str, Callable[[], None]] = {}
    if with_sdpa:
        out[BASELINE] = run(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    for variant in VARIANTS:
        out[f"combiner_{variant}"] = run(lambda variant=variant: combiner_attention(
            q * scale, k, v, variant=variant, spatial=(side, side), causal=True))
    return out


def exponent(lengths: list[int], values: list[float]) -> float | None:
    """Least-squares slope of log(value) on log(L); None with fewer than two points."""
    if len(lengths) < 2:
        return None
    xs, ys = [math.log(n) for n in lengths], [math.log(max(v, 1e-12)) for v in values]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def bench(lengths: list[int], *, batch: int, num_heads: int, head_dim: int, rounds: int, warmup: int,
          cap_bytes: int) -> dict[str, Any]:
    rows, skipped = [], []
    for length in lengths:
        estimate = sdpa_bytes(batch, num_heads, length)
        with_sdpa = estimate <= cap_bytes
        if not with_sdpa:
            skipped.append({"L": length, "mixer": BASELINE, "estimated_bytes": estimate,
                            "estimated_gib": estimate / 2**30, "cap_bytes": cap_bytes})
        qkv = heads(length, batch=batch, num_heads=num_heads, head_dim=head_dim, seed=length)
        timed = calls(length, qkv, with_sdpa)
        times = interleaved_ms(timed, rounds=rounds, warmup=warmup)
        row: dict[str, Any] = {"L": length, "grid": [math.isqrt(length)] * 2, "median_ms": medians(times),
                               "peak_bytes": {name: peak_memory_bytes(fn) for name, fn in timed.items()}}
        if with_sdpa:
            row["time_ratio_over_sdpa"] = median_ratios(times, BASELINE)
            row["memory_ratio_over_sdpa"] = {n: b / max(row["peak_bytes"][BASELINE], 1)
                                             for n, b in row["peak_bytes"].items()}
        rows.append(row)
        print(f"L={length}: " + ", ".join(f"{n} {ms:.1f} ms" for n, ms in row["median_ms"].items()), flush=True)
    return {"rows": rows, "skipped": skipped, "scaling": scaling(rows)}


def scaling(rows: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per mixer: time and memory exponents over every measured L and over the two largest."""
    names = dict.fromkeys(n for r in rows for n in r["median_ms"])
    out = {}
    for name in names:
        have = [r for r in rows if name in r["median_ms"]]
        lengths = [r["L"] for r in have]
        ms = [r["median_ms"][name] for r in have]
        mem = [float(r["peak_bytes"][name]) for r in have]
        out[name] = {"time_exponent": exponent(lengths, ms), "time_exponent_top2": exponent(lengths[-2:], ms[-2:]),
                     "memory_exponent": exponent(lengths, mem),
                     "memory_exponent_top2": exponent(lengths[-2:], mem[-2:]), "lengths": lengths}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny L and 2 rounds (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cap-gib", type=float, default=4.0, help="skip SDPA where its dense estimate exceeds this")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    if args.smoke:
        lengths, rounds, warmup = [16, 64], 2, 0
    else:
        lengths, rounds, warmup = [256, 1024, 4096, 16384], 5, 1
    shape = {"batch": 1, "num_heads": 4, "head_dim": 64}
    result = {"threads": args.threads, "torch": torch.__version__, "machine": platform.machine(), "smoke": args.smoke,
              "rounds": rounds, "warmup": warmup, **shape, "causal": True, "pass": "forward+backward",
              "cap_gib": args.cap_gib,
              **bench(lengths, rounds=rounds, warmup=warmup, cap_bytes=int(args.cap_gib * 2**30), **shape),
              "note": "ratios are medians over rounds of time / sdpa's time in the same round (above 1: slower "
                      "than SDPA); peak_bytes: the largest extra memory held during one forward+backward call "
                      "(torch.profiler allocator events); sdpa is F.scaled_dot_product_attention(is_causal=True), "
                      "skipped where 2 B h L^2 float32 would exceed cap_gib (listed in skipped)"}
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    print(json.dumps({n: s["time_exponent"] for n, s in result["scaling"].items()}, indent=1))
    return result


if __name__ == "__main__":
    main()
