"""Which kernel is fastest for the hot pieces of ``forwardkit.nn`` on this CPU: the measurement behind its dispatch.

For each piece, every candidate implementation of the same function is timed forward+backward (gradients
into the input and every weight), interleaved in one process (the order rotates per repeat), median of the
repeats, on the channels-last ``(B, H, W, C)`` tokens of the four MetaFormer stages at 224 px and batch
sizes 1 to 64, on 1 and 2 threads:

- ``pointwise`` (the per-token projections of MLPs, separable convolutions and attention, ``(.., C) -> (.., O)``):
  ``linear`` (``F.linear`` on the ``(B*H*W, C)`` view: MKL sgemm, ``addmm`` with a bias), ``linear_nd``
  (``F.linear`` on the 4-D tensor, what the blocks did before; with a bias only, the same kernel without one)
  and ``conv1x1`` (a 1x1 ``F.conv2d`` on the ``(B, C, H, W)`` view with channels-last strides: oneDNN, the bias
  fused into the GEMM and its gradient into the backward);
- ``depthwise`` 7x7 (SepConv's, on ``2C`` channels): ``channels_last_view`` (``F.conv2d`` on the permuted view,
  no copy) and ``nchw_contiguous`` (copy to contiguous NCHW and back, as a channels-first model would hold it);
- ``groupnorm1`` (MetaFormer's modified LayerNorm): ``var_mean`` (the formula written out with tensor ops) and
  ``native`` (``F.group_norm`` with one group on the channels-last view).

    python benchmarks/cpu_kernels.py                  # writes benchmarks/results/cpu_kernels.json (~15 min)
    python benchmarks/cpu_kernels.py --smoke --out /tmp/k.json

``forwardkit.nn.GroupNorm1`` cites the kept JSON for its fused kernel. ``forwardkit.nn.pointwise`` no longer follows
a fixed rule fitted to this table: the faster projection kernel differs between processors (an Intel Xeon here,
an AMD EPYC in ``metaformer_speed.json``), so it times both candidates on each shape's first call.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_result

RESULTS = Path(__file__).resolve().parent / "results" / "cpu_kernels.json"
STAGES = [(56, 56, 64), (28, 28, 128), (14, 14, 320), (7, 7, 512)]
BATCHES = [1, 8, 16, 32, 64]
THREADS = [1, 2]
#: (name, in width, out width) as multiples of the stage width C, and whether the MetaFormer blocks use a bias
PROJECTIONS = [("mlp_fc1", 1, 4), ("mlp_fc2", 4, 1), ("sepconv_pw1", 1, 2), ("sepconv_pw2", 2, 1)]

Fn = Callable[..., Tensor]


def _linear(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    return F.linear(x.reshape(-1, x.shape[-1]), w, b).reshape(*x.shape[:-1], w.shape[0])


def _linear_nd(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    return F.linear(x, w, b)


def _conv1x1(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    return F.conv2d(x.permute(0, 3, 1, 2), w.reshape(*w.shape, 1, 1), b).permute(0, 2, 3, 1)


def _dw_view(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    return F.conv2d(x.permute(0, 3, 1, 2), w, b, padding=w.shape[-1] // 2, groups=w.shape[0]).permute(0, 2, 3, 1)


def _dw_nchw(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    y = F.conv2d(x.permute(0, 3, 1, 2).contiguous(), w, b, padding=w.shape[-1] // 2, groups=w.shape[0])
    return y.permute(0, 2, 3, 1).contiguous()


def _gn_var_mean(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    var, mean = torch.var_mean(x, dim=(1, 2, 3), unbiased=False, keepdim=True)
    return (x - mean) * torch.rsqrt(var + 1e-6) * w


def _gn_native(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    return F.group_norm(x.permute(0, 3, 1, 2), 1, w, None, 1e-6).permute(0, 2, 3, 1)


def time_candidates(candidates: dict[str, Fn], x: Tensor, w: Tensor, b: Tensor | None, *, min_repeats: int,
                    max_repeats: int, budget_s: float, warmup: int = 2) -> dict[str, float]:
    """Median forward+backward ms of each candidate on the same inputs, interleaved (rotating order)."""
    out0 = next(iter(candidates.values()))(x, w, b)
    grad = torch.randn_like(out0)
    for fn in candidates.values():  # all compute the same function
        torch.testing.assert_close(fn(x, w, b), out0, atol=1e-3, rtol=1e-3)
    names = list(candidates)
    times: dict[str, list[float]] = {n: [] for n in names}
    start, i = time.perf_counter(), 0
    while True:
        order = names[i % len(names):] + names[: i % len(names)]
        for name in order:
            xi, wi = x.detach().requires_grad_(True), w.detach().requires_grad_(True)
            bi = b.detach().requires_grad_(True) if b is not None else None
            t = time.perf_counter()
            candidates[name](xi, wi, bi).backward(grad)
            if i >= warmup:
                times[name].append(time.perf_counter() - t)
        i += 1
        done = i - warmup
        if done >= max_repeats or (done >= min_repeats and time.perf_counter() - start > budget_s):
            break
    return {n: round(statistics.median(v) * 1e3, 4) for n, v in times.items()}


def _row(piece: str, shape: list[int], ms: dict[str, float], **extra: Any) -> dict[str, Any]:
    best = min(ms, key=lambda k: ms[k])
    return {"piece": piece, "shape": shape, "threads": torch.get_num_threads(), **extra, "ms": ms, "best": best}


def run(stages: list[tuple[int, int, int]], batches: list[int], *, min_repeats: int, max_repeats: int,
        budget_s: float) -> list[dict[str, Any]]:
    rows = []
    gen = torch.Generator().manual_seed(0)
    kw = {"min_repeats": min_repeats, "max_repeats": max_repeats, "budget_s": budget_s}
    for h, w_, c in stages:
        for batch in batches:
            x = torch.randn(batch, h, w_, c, generator=gen)
            for name, mult_in, mult_out in PROJECTIONS:
                cin, cout = c * mult_in, c * mult_out
                xin = x if mult_in == 1 else torch.randn(batch, h, w_, cin, generator=gen)
                weight = torch.randn(cout, cin, generator=gen) * cin**-0.5
                for bias in (False, True) if name.startswith("mlp") else (False,):
                    b = torch.randn(cout, generator=gen) * 0.1 if bias else None
                    cands: dict[str, Fn] = {"linear": _linear, "conv1x1": _conv1x1}
                    if bias:
                        cands["linear_nd"] = _linear_nd
                    ms = time_candidates(cands, xin, weight, b, **kw)
                    rows.append(_row("pointwise", [batch, h, w_, cin], ms, projection=name, out_features=cout,
                                     bias=bias, rows=batch * h * w_))
                    print(f"  pointwise {name:12s} {batch:3d}x{h}x{w_}x{cin:<5d}->{cout:<5d} bias={bias!s:5s} "
                          + "  ".join(f"{k} {v:8.2f}" for k, v in ms.items()), flush=True)
            hidden = torch.randn(batch, h, w_, 2 * c, generator=gen)
            dw = torch.randn(2 * c, 1, 7, 7, generator=gen) * 0.1
            ms = time_candidates({"channels_last_view": _dw_view, "nchw_contiguous": _dw_nchw}, hidden, dw, None, **kw)
            rows.append(_row("depthwise", [batch, h, w_, 2 * c], ms, kernel=7))
            shown = "  ".join(f"{k} {v:8.2f}" for k, v in ms.items())
            print(f"  depthwise 7x7 {batch:3d}x{h}x{w_}x{2 * c:<5d} {shown}", flush=True)
            gw = torch.rand(c, generator=gen) + 0.5
            ms = time_candidates({"var_mean": _gn_var_mean, "native": _gn_native}, x, gw, None, **kw)
            rows.append(_row("groupnorm1", [batch, h, w_, c], ms))
            print(f"  groupnorm1 {batch:3d}x{h}x{w_}x{c:<5d} " + "  ".join(f"{k} {v:8.2f}" for k, v in ms.items()),
                  flush=True)
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one tiny shape, one repeat (for tests)")
    parser.add_argument("--threads", type=int, nargs="+", default=THREADS)
    parser.add_argument("--batches", type=int, nargs="+", default=BATCHES)
    parser.add_argument("--min-repeats", type=int, default=9)
    parser.add_argument("--max-repeats", type=int, default=31)
    parser.add_argument("--budget-s", type=float, default=1.5, help="seconds of repeats per comparison (soft)")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON output (default {RESULTS}; none with --smoke)")
    args = parser.parse_args(argv)
    stages, batches, threads = ([(8, 8, 16)], [2], [1]) if args.smoke else (STAGES, args.batches, args.threads)
    reps = {"min_repeats": 1, "max_repeats": 1, "budget_s": 0.0} if args.smoke else {
        "min_repeats": args.min_repeats, "max_repeats": args.max_repeats, "budget_s": args.budget_s}
    before = torch.get_num_threads()
    rows: list[dict[str, Any]] = []
    try:
        for n in threads:
            torch.set_num_threads(n)
            print(f"{n} thread(s)", flush=True)
            rows += run(stages, batches, **reps)
    finally:
        torch.set_num_threads(before)
    result = {
        "what": "forward+backward ms of candidate kernels for the same function, interleaved in one process, "
                "median of repeats; channels-last (B, H, W, C) tokens of the MetaFormer stages at 224 px",
        "rows": rows,
        "settings": {"stages": [list(s) for s in stages], "batches": batches, "threads": threads, **reps},
        **machine_info(),
    }
    out = args.out if args.out is not None else (None if args.smoke else RESULTS)
    write_result(out, result)
    return result


if __name__ == "__main__":
    main()
