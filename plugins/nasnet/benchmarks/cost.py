"""Cost benchmark (card "Performance notes"): NASNet-A against random cells of the same search space at equal size,
and against a ResNet-18 layout scaled in width to NASNet-A's parameter count, on MNIST-sized inputs, in one process.

* **Accounting**: parameters and MACs per image (``forwardkit.measure.count_macs``) of NASNet-A (F = 8, N = 2, the
  card's CPU composition), of the random pairs of seeds 0..K-1 (the reproduction's search candidates) in the same
  skeleton, and of the ResNet-18 baseline; ratios over NASNet-A. The share of NASNet-A's MACs in separable
  convolutions (depthwise + pointwise), counted per conv module from its weight and output shapes, beside the
  total of torch's counter (the card: separable convs dominate the FLOPs).
* **Latency**: forward (eval) and training-step (forward, backward, SGD update) wall time at batch 64, every model
  once per round (``interleaved_ms``), as per-round median ratios over NASNet-A (``median_ratios``) and steps per
  second; on CPU depthwise convolutions are memory-bound, so the time ratios need not follow the MAC ratios.
* **Memory**: peak bytes of one forward+backward (``peak_memory_bytes``) of a NASNet-A Normal cell against a plain
  ReLU-conv3x3-BN layer of the same output width (6F) on the same input (the card: ~6x); and of the whole networks.
* **NASNet-A Mobile** (4 @ 1056, 224 px): parameters and mult-adds, built on the meta device (the paper: 5.3M,
  564M).

    python plugins/nasnet/benchmarks/cost.py [--smoke] [--out PATH] [--threads N] [--random K]

Writes plugins/nasnet/reports/cost.json (``--smoke``: tiny sizes, 1 round, no Mobile accounting, no file unless
``--out``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from forwardkit_nasnet.cell import NasNetCell
from forwardkit_nasnet.genotypes import NASNET_A_NORMAL
from forwardkit_nasnet.network import NasNetNetwork
from forwardkit_nasnet.ops import ReLUConvBN, SepConvStack
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
from forwardkit.nn import BasicBlock

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
BASELINE = "nasnet_a"


class ResNet18Like(nn.Module):
    """ResNet-18's layout (4 stages of 2 basic blocks, widths w, 2w, 4w, 8w, strides 1, 2, 2, 2) with a 3x3
    stride-1 stem for small images; channels-last ``(B, H, W, C)`` in, logits out."""

    def __init__(self, width: int, in_channels: int = 1, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU())
        blocks: list[nn.Module] = []
        c = width
        for stage, mult in enumerate((1, 2, 4, 8)):
            out = width * mult
            for b in range(2):
                blocks.append(BasicBlock(in_channels=c, out_channels=out, stride=2 if stage and b == 0 else 1))
                c = out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.blocks(self.stem(x.permute(0, 3, 1, 2))).mean(dim=(2, 3)))


def resnet_at_params(target: int, **kw: Any) -> tuple[ResNet18Like, int]:
    """The ResNet18Like whose parameter count is closest to ``target`` (over integer widths)."""
    best: tuple[int, int] | None = None
    for width in range(1, 65):
        n = count_parameters(ResNet18Like(width, **kw))
        if best is None or abs(n - target) < abs(best[1] - target):
            best = (width, n)
        if n > target:
            break
    assert best is not None
    return ResNet18Like(best[0], **kw), best[0]


def conv_macs_by_kind(model: nn.Module, x: Tensor) -> dict[str, int]:
    """MACs of every Conv2d and Linear in one eval forward of ``x``, from their weight and output shapes, split into
    separable-conv layers (inside a ``SepConvStack``) and the rest."""
    inside = {id(m) for s in model.modules() if isinstance(s, SepConvStack) for m in s.modules()}
    totals = {"separable": 0, "other": 0}
    hooks = []

    def hook(module: nn.Module, _inp: Any, out: Tensor) -> None:
        kind = "separable" if id(module) in inside else "other"
        if isinstance(module, nn.Conv2d):
            per_out = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            totals[kind] += out[0].numel() * per_out
        elif isinstance(module, nn.Linear):
            totals[kind] += out[0].numel() * module.in_features

    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            hooks.append(m.register_forward_hook(hook))
    was = model.training
    model.eval()
    with torch.no_grad():
        model(x)
    model.train(was)
    for h in hooks:
        h.remove()
    return totals


def _train_step(model: nn.Module, x: Tensor, y: Tensor) -> Callable[[], None]:
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def step() -> None:
        model.train()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def _forward(model: nn.Module, x: Tensor) -> Callable[[], None]:
    def fwd() -> None:
        model.eval()
        with torch.no_grad():
            model(x)
    return fwd


def _fwd_bwd(module: Callable[[], Tensor], params: list[nn.Parameter]) -> Callable[[], None]:
    def call() -> None:
        for p in params:
            p.grad = None
        module().sum().backward()
    return call


def cell_memory(filters: int, size: int, batch: int) -> dict[str, Any]:
    """Peak bytes of a NASNet-A Normal cell forward+backward against ReLU-conv3x3-BN to the same width (6F)."""
    torch.manual_seed(0)
    c_in = 6 * filters
    cell = NasNetCell(NASNET_A_NORMAL, filters=filters, in_channels=c_in, prev_channels=c_in).train()
    plain = ReLUConvBN(c_in, cell.out_channels, 3).train()
    h = torch.randn(batch, c_in, size, size)
    prev = torch.randn(batch, c_in, size, size)
    calls = {"nasnet_a_normal_cell": _fwd_bwd(lambda: cell(h, prev), list(cell.parameters())),
             "plain_conv3x3": _fwd_bwd(lambda: plain(h), list(plain.parameters()))}
    for fn in calls.values():
        fn()
    peak = {name: peak_memory_bytes(fn) for name, fn in calls.items()}
    return {"filters": filters, "out_channels": cell.out_channels, "input": [batch, c_in, size, size],
            "peak_bytes": peak, "cell_over_plain": peak["nasnet_a_normal_cell"] / max(peak["plain_conv3x3"], 1)}


def mobile_accounting() -> dict[str, Any]:
    with torch.device("meta"):
        model = NasNetNetwork(preset="mobile_4_1056")
    model.eval()
    macs = count_macs(lambda: model(torch.empty(1, 224, 224, 3, device="meta")))
    return {"name": model.name_n_at_p, "params": count_parameters(model), "macs_224": macs,
            "paper_params": 5.3e6, "paper_mult_adds": 564e6}


def bench(*, size: int, filters: int, num_cells: int, random_k: int, batch: int, rounds: int, warmup: int,
          memory_size: int) -> dict[str, Any]:
    skeleton: dict[str, Any] = {"num_cells": num_cells, "filters": filters, "in_channels": 1, "num_classes": 10,
                                 "image_size": [size, size]}
    torch.manual_seed(0)
    models: dict[str, nn.Module] = {BASELINE: NasNetNetwork(**skeleton)}
    for seed in range(random_k):
        torch.manual_seed(0)
        models[f"random_{seed}"] = NasNetNetwork(**skeleton, genotype="random", genotype_seed=seed)
    torch.manual_seed(0)
    resnet, width = resnet_at_params(count_parameters(models[BASELINE]))
    models["resnet18_width"] = resnet
    x1 = torch.randn(1, size, size, 1)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(batch, size, size, 1, generator=g), torch.randint(0, 10, (batch,), generator=g)
    params = {n: count_parameters(m) for n, m in models.items()}
    macs = {n: count_macs(_forward(m, x1)) for n, m in models.items()}
    split = conv_macs_by_kind(models[BASELINE], x1)
    fwd = interleaved_ms({n: _forward(m, x) for n, m in models.items()}, rounds=rounds, warmup=warmup)
    train = interleaved_ms({n: _train_step(m, x, y) for n, m in models.items()}, rounds=rounds, warmup=warmup)
    randoms = [n for n in models if n.startswith("random_")]
    ratio = {
        "params_over_nasnet_a": {n: params[n] / params[BASELINE] for n in models},
        "macs_over_nasnet_a": {n: macs[n] / macs[BASELINE] for n in models},
        "forward_time_over_nasnet_a": median_ratios(fwd, BASELINE),
        "train_step_time_over_nasnet_a": median_ratios(train, BASELINE),
    }
    summary = {key: statistics.median(values[n] for n in randoms) for key, values in ratio.items()}
    train_ms = medians(train)
    whole_memory = {n: peak_memory_bytes(_train_step(m, x, y)) for n, m in models.items()}
    return {
        "image": [size, size, 1], "batch": batch, "skeleton": {"filters": filters, "num_cells": num_cells},
        "resnet18_width": width, "params": params, "macs_per_image": macs,
        "nasnet_a_mac_split": {**split, "separable_share": split["separable"] / max(sum(split.values()), 1),
                               "hooks_total_over_counter": sum(split.values()) / max(macs[BASELINE], 1)},
        "forward_ms": medians(fwd), "train_step_ms": train_ms,
        "steps_per_s": {n: 1e3 / ms for n, ms in train_ms.items()},
        "ratios": ratio, "random_median_ratios": summary,
        "nasnet_a_over_resnet18": {"params": params[BASELINE] / params["resnet18_width"],
                                   "macs": macs[BASELINE] / macs["resnet18_width"],
                                   "train_step_time": median_ratios(train, "resnet18_width")[BASELINE],
                                   "forward_time": median_ratios(fwd, "resnet18_width")[BASELINE],
                                   "steps_per_s": (1e3 / train_ms[BASELINE]) / (1e3 / train_ms["resnet18_width"])},
        "train_peak_bytes": whole_memory,
        "train_peak_over_nasnet_a": {n: b / max(whole_memory[BASELINE], 1) for n, b in whole_memory.items()},
        "cell_memory": cell_memory(filters, memory_size, batch),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and 2 rounds (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--random", type=int, default=12, help="random cell pairs (seeds 0..K-1)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.smoke:
        shape = {"size": 8, "filters": 4, "num_cells": 1, "random_k": min(args.random, 2), "batch": 4, "rounds": 1,
                 "warmup": 0, "memory_size": 4}
    else:
        shape = {"size": 28, "filters": 8, "num_cells": 6, "random_k": args.random, "batch": 64, "rounds": 10,
                 "warmup": 2, "memory_size": 28}
    result = {"threads": args.threads, "torch": torch.__version__, "machine": platform.machine(), "smoke": args.smoke,
              **shape, **bench(**shape), "mobile": None if args.smoke else mobile_accounting(),
              "note": "ratios over nasnet_a: params and MACs exact; times the per-round median of time / nasnet_a's "
                      "time in the same round (above 1: slower); random_median_ratios: the median over the random "
                      "cells; peak bytes from torch.profiler allocator events of one forward+backward (+ SGD step "
                      "for the whole networks); resnet18_width: ResNet-18's layout at the width whose parameter "
                      "count is closest to NASNet-A's"}
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    print(json.dumps({"random_median_ratios": result["random_median_ratios"],
                      "nasnet_a_over_resnet18": result["nasnet_a_over_resnet18"],
                      "cell_over_plain": result["cell_memory"]["cell_over_plain"]}, indent=1))
    return result


if __name__ == "__main__":
    main()
