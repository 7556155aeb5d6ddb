"""Speed bar of the pooling and separable-conv mixers: forward+backward time of this plugin's modules
against straightforward PyTorch modules written from the paper (the official code's structure: permute
the channels-last tokens to NCHW, ``nn.AvgPool2d`` / depthwise ``nn.Conv2d``, permute back), on the same
shapes and weights, in the same process; median of interleaved repeats. Also StarReLU (fused) against
the composed ``s * relu(x) ** 2 + b``, GELU and squared ReLU on a ``(B, N, 4C)`` tensor.

    python plugins/metaformer-baselines/benchmarks/speed.py            # writes reports/speed.json
    python plugins/metaformer-baselines/benchmarks/speed.py --smoke --out /tmp/speed.json

Bar: ours / reference <= 1.0 for every shape.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from forwardkit_metaformer_baselines.activation import StarReLU
from forwardkit_metaformer_baselines.pooling import Pooling
from forwardkit_metaformer_baselines.sepconv import SepConv
from torch import Tensor, nn

from forwardkit.measure import save_report

REPORT = Path(__file__).resolve().parents[1] / "reports" / "speed.json"
#: (B, H, W, C) channels-last token shapes of the bar
SHAPES = [(32, 28, 28, 64), (32, 14, 14, 64), (8, 56, 56, 64)]
SMOKE_SHAPES = [(2, 8, 8, 16)]


# ---- straightforward references written from the paper ----------------------------------------------
class RefPooling(nn.Module):
    """``pool(x) - x`` (PoolFormer eq. 4) on ``(B, H, W, C)``: permute to NCHW, AvgPool2d, permute back."""

    def __init__(self, pool_size: int = 3) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(pool_size, 1, pool_size // 2, count_include_pad=False)

    def forward(self, x: Tensor) -> Tensor:
        y = x.permute(0, 3, 1, 2)
        return (self.pool(y) - y).permute(0, 2, 3, 1)


class RefStarReLU(nn.Module):
    """``s * relu(x) ** 2 + b`` composed of plain tensor ops (as the official code)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor) -> Tensor:
        return self.scale * F.relu(x) ** 2 + self.bias


class RefSepConv(nn.Module):
    """Inverted separable conv on ``(B, H, W, C)``: Linear, StarReLU, permute, depthwise Conv2d, permute, Linear."""

    def __init__(self, dim: int, expansion_ratio: float = 2.0, kernel_size: int = 7) -> None:
        super().__init__()
        hidden = int(expansion_ratio * dim)
        self.pwconv1 = nn.Linear(dim, hidden, bias=False)
        self.act1 = RefStarReLU()
        self.dwconv = nn.Conv2d(hidden, hidden, kernel_size, padding=kernel_size // 2, groups=hidden, bias=False)
        self.pwconv2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act1(self.pwconv1(x)).permute(0, 3, 1, 2)
        return self.pwconv2(self.dwconv(x).permute(0, 2, 3, 1))


# ---- timing -------------------------------------------------------------------------------------------
def _step(fn: Callable[[Tensor], Tensor], module: nn.Module | None, x: Tensor, grad: Tensor, sync: Callable[[], None]
          ) -> float:
    if module is not None:
        module.zero_grad(set_to_none=True)
    inp = x.detach().requires_grad_(True)
    sync()
    start = time.perf_counter()
    fn(inp).backward(grad)
    sync()
    return time.perf_counter() - start


def compare(ours: Callable[[Tensor], Tensor], ref: Callable[[Tensor], Tensor], x: Tensor, *, repeats: int,
            warmup: int, modules: tuple[nn.Module | None, nn.Module | None] = (None, None)) -> dict[str, float]:
    """Median forward+backward seconds of ``ours`` and ``ref`` on ``x``, interleaved; returns ms and the ratio."""
    sync = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    grad = torch.randn_like(x if ours(x).shape == x.shape else ours(x))
    times: dict[str, list[float]] = {"ours": [], "reference": []}
    for i in range(warmup + repeats):
        order = [("ours", ours, modules[0]), ("reference", ref, modules[1])]
        for name, fn, module in order if i % 2 == 0 else reversed(order):
            t = _step(fn, module, x, grad, sync)
            if i >= warmup:
                times[name].append(t)
    ours_ms = statistics.median(times["ours"]) * 1e3
    ref_ms = statistics.median(times["reference"]) * 1e3
    ours_min, ref_min = min(times["ours"]) * 1e3, min(times["reference"]) * 1e3
    return {"ours_ms": round(ours_ms, 4), "reference_ms": round(ref_ms, 4), "ratio": round(ours_ms / ref_ms, 4),
            "ours_min_ms": round(ours_min, 4), "reference_min_ms": round(ref_min, 4),
            "ratio_of_minima": round(ours_min / ref_min, 4)}


def run(shapes: list[tuple[int, int, int, int]], repeats: int, warmup: int, device: str) -> dict[str, object]:
    rows = []
    for shape in shapes:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn(shape, generator=gen).to(device)
        dim = shape[-1]
        pool_ours, pool_ref = Pooling(dim=dim).to(device), RefPooling().to(device)
        res = compare(pool_ours, pool_ref, x, repeats=repeats, warmup=warmup)
        with torch.no_grad():
            torch.testing.assert_close(pool_ours(x), pool_ref(x))
        rows.append({"mixer": "pooling", "shape": list(shape), **res})

        sep_ref = RefSepConv(dim).to(device)
        sep_ours = SepConv(dim=dim).to(device)
        sep_ours.load_state_dict({"pwconv1.weight": sep_ref.pwconv1.weight, "act1.scale": sep_ref.act1.scale,
                                  "act1.bias": sep_ref.act1.bias, "dwconv.weight": sep_ref.dwconv.weight,
                                  "pwconv2.weight": sep_ref.pwconv2.weight})
        with torch.no_grad():
            torch.testing.assert_close(sep_ours(x), sep_ref(x), atol=1e-4, rtol=1e-4)
        res = compare(sep_ours, sep_ref, x, repeats=repeats, warmup=warmup, modules=(sep_ours, sep_ref))
        rows.append({"mixer": "sepconv", "shape": list(shape), **res})

    acts = []
    for shape in shapes:
        b, h, w, c = shape
        x = torch.randn(b, h * w, 4 * c, generator=torch.Generator().manual_seed(1)).to(device)
        star, ref = StarReLU().to(device), RefStarReLU().to(device)
        entry: dict[str, object] = {"shape": [b, h * w, 4 * c]}
        entry["starrelu_fused_vs_composed"] = compare(star, ref, x, repeats=repeats, warmup=warmup,
                                                      modules=(star, ref))
        entry["starrelu_fused_vs_gelu"] = compare(star, F.gelu, x, repeats=repeats, warmup=warmup, modules=(star, None))
        entry["starrelu_fused_vs_squaredrelu"] = compare(star, lambda t: F.relu(t).square(), x, repeats=repeats,
                                                         warmup=warmup, modules=(star, None))
        acts.append(entry)
    worst = max(r["ratio"] for r in rows)
    return {
        "what": "forward+backward time, ours / straightforward reference written from the paper (same shapes, "
                "weights and process; median of interleaved repeats)",
        "bar": "ratio (of medians) <= 1.0",
        "passes_bar": worst <= 1.0,
        "worst_ratio": worst,
        "mixers": rows,
        "activations": acts,
        "device": device if device == "cpu" else torch.cuda.get_device_name(),
        "threads": torch.get_num_threads(),
        "repeats": repeats,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny shapes and repeats (for tests)")
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON output (default {REPORT}; none with --smoke)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    shapes = SMOKE_SHAPES if args.smoke else SHAPES
    repeats, warmup = (3, 1) if args.smoke else (args.repeats, 3)
    result = run(shapes, repeats, warmup, args.device)
    for row in result["mixers"]:  # type: ignore[union-attr]
        print(f"{row['mixer']:8s} {tuple(row['shape'])!s:18s} ours {row['ours_ms']:9.3f} ms  "
              f"reference {row['reference_ms']:9.3f} ms  ratio {row['ratio']:.3f}")
    print(f"worst ratio {result['worst_ratio']:.3f} (bar <= 1.0: {'pass' if result['passes_bar'] else 'FAIL'})")
    out = args.out if args.out is not None else (None if args.smoke else REPORT)
    if out is not None:
        save_report(result, out)
        print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
