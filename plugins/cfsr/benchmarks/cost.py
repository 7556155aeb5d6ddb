"""Cost benchmark (card "Performance notes"): CPU forward latency (eval) of CFSR against window attention and a
plain CNN, and of the merged against the training (branched) form, as ratios measured in one process.

Everything interleaved round by round, paired per-round ratios (``forwardkit.measure``), forward only in
inference mode (the deployment claim), batch 1:

* blocks of width C = 48 on a 128x128 token grid (``--smoke``: C 24 on 16x16): the CFSR block (ConvMod + EFN,
  merged; the baseline of the ratios), the same in its training form (branches composed into one kernel per
  pass, forwardkit's kernel) and as the paper-literal sum of branch convolutions (what the official training
  code runs), a Swin-style 8x8 window-attention block (SwinIR's layer: W-MSA with relative position bias +
  MLP ratio 2; 6 heads as SwinIR-light; plain and shifted windows) and a plain CNN block (3x3 conv, ReLU, 3x3
  conv, skip);
* whole x2 networks on a 128x128 LR input (the card's shape; ``--smoke``: cfsr_tiny on 16x16): ``cfsr_x2``
  merged (baseline), training form and branch sum, a window-attention SR network of the same width and depth
  (CFSR's head, layers and upsampler with its 12 ConvFormer blocks replaced by Swin blocks, alternately
  shifted), and the plain CNN ``sr_cnn`` widened to CFSR's parameter count, plus the one of cfsr_tiny's size.

Parameters and multiply-adds (torch's FLOP counter) are reported for every entry (``--smoke`` leaves the
multiply-adds out: the counter's first use imports seconds of torch internals).

    python plugins/cfsr/benchmarks/cost.py [--smoke] [--out PATH] [--threads N]

Writes plugins/cfsr/reports/cost.json (``--smoke``: tiny shapes, nothing written unless ``--out``).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from forwardkit_cfsr.baselines import SRCNN
from forwardkit_cfsr.cfsr import CFSR, cfsr_block
from forwardkit_cfsr.config import CFSRConfig
from forwardkit_cfsr.merge import merge_model
from forwardkit_cfsr.reparam import use_branch_sum
from forwardkit_cfsr.window_attention import SwinBlock
from torch import Tensor, nn

from forwardkit.measure import count_macs, count_parameters, interleaved_ms, median_ratios, medians, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
BASELINE = "cfsr_merged"


class CNNBlock(nn.Module):
    """A plain residual CNN block on ``(B, H, W, C)``: ``x + Conv3x3(ReLU(Conv3x3(x)))`` (EDSR's, without scaling)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(dim, dim, 3, padding=1), nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        h = x.permute(0, 3, 1, 2)
        return x + self.conv2(torch.relu(self.conv1(h))).permute(0, 2, 3, 1)


def swin_sr(config: CFSRConfig, heads: int) -> nn.Module:
    """CFSR's skeleton (head, layers with their 1x1 convs, norm, upsampler) with Swin blocks for its ConvFormer
    blocks: a window-attention SR network of the same width and depth."""
    model = CFSR(config)
    for layer in model.layers:
        depth = len(layer.blocks)
        layer.blocks = nn.Sequential(*(SwinBlock(dim=config.embed_dim, num_heads=heads, window=8, shift=i % 2 == 1)
                                       for i in range(depth)))
    return model


def _forward(module: nn.Module, x: Tensor) -> Callable[[], Any]:
    def call() -> None:
        with torch.inference_mode():
            module(x)
    return call


def _figures(modules: dict[str, nn.Module], x: Tensor, rounds: int, warmup: int, macs: bool) -> dict[str, Any]:
    for m in modules.values():
        m.eval()
    times = interleaved_ms({name: _forward(m, x) for name, m in modules.items()}, rounds=rounds, warmup=warmup)
    counted = {name: count_macs(lambda m=m: m(x)) if macs else None for name, m in modules.items()}
    return {"input": list(x.shape), "median_ms": medians(times), "ratio_over_cfsr_merged": median_ratios(times,
            BASELINE), "params": {n: count_parameters(m) for n, m in modules.items()}, "macs": counted}


def _trained_forms(model: nn.Module) -> dict[str, nn.Module]:
    """The merged, training (composed kernels) and branch-sum forms of one model, same function."""
    merged = merge_model(model)
    literal = use_branch_sum(copy.deepcopy(model))
    return {BASELINE: merged, "cfsr_train": model, "cfsr_branch_sum": literal}


def bench_blocks(dim: int, side: int, heads: int, rounds: int, warmup: int, macs: bool = True) -> dict[str, Any]:
    torch.manual_seed(0)
    block = cfsr_block(CFSRConfig(embed_dim=dim))
    modules = _trained_forms(block)
    modules.update(swin=SwinBlock(dim=dim, num_heads=heads, window=8),
                   swin_shifted=SwinBlock(dim=dim, num_heads=heads, window=8, shift=True), cnn=CNNBlock(dim))
    return _figures(modules, torch.randn(1, side, side, dim), rounds, warmup, macs)


def _cnn_width_for(params: int, scale: int) -> int:
    """The smallest ``sr_cnn`` width (5 layers) with at least ``params`` parameters."""
    width = 8
    while count_parameters(SRCNN(width=width, scale=scale)) < params:
        width += 1
    return width


def bench_models(preset: str, side: int, heads: int, rounds: int, warmup: int, macs: bool = True) -> dict[str, Any]:
    torch.manual_seed(0)
    config = CFSRConfig(preset=preset)  # type: ignore[arg-type]
    modules = _trained_forms(CFSR(config))
    width = _cnn_width_for(count_parameters(modules[BASELINE]), config.scale)
    modules.update(swin_sr=swin_sr(config, heads), cnn_same_params=SRCNN(width=width, scale=config.scale),
                   cnn_tiny=SRCNN(scale=config.scale))
    out = _figures(modules, torch.rand(1, side, side, 3), rounds, warmup, macs)
    out.update(preset=preset, cnn_same_params_width=width)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny shapes and 2 rounds (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.smoke:
        dim, side, heads, preset, lr_side, rounds, warmup = 24, 16, 3, "cfsr_tiny", 16, 2, 0
    else:
        dim, side, heads, preset, lr_side, rounds, warmup = 48, 128, 6, "cfsr_x2", 128, 15, 2
    result = {"threads": args.threads, "torch": torch.__version__, "machine": platform.machine(),
              "rounds": rounds, "warmup": warmup, "smoke": args.smoke,
              "blocks": bench_blocks(dim, side, heads, rounds, warmup, macs=not args.smoke),
              "models": bench_models(preset, lr_side, heads, rounds, warmup, macs=not args.smoke),
              "note": "forward latency in inference mode, batch 1; ratios are medians over rounds of time / the "
                      "merged CFSR's time in the same round (above 1: slower than merged CFSR); swin = a SwinIR-style "
                      "8x8 window-attention block written locally (timm/BasicSR are not installed), cnn = plain convs"}
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    print(json.dumps({k: result[k]["ratio_over_cfsr_merged"] for k in ("blocks", "models")}, indent=1))
    return result


if __name__ == "__main__":
    main()
