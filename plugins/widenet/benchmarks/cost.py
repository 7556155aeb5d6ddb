"""Cost benchmark (card "Performance notes"): what WideNet's parameters and compute cost against the dense baselines,
and what the sort/gather MoE dispatch costs against a one-hot einsum dispatch and a dense FFN of the same active
width, everything in one process (interleaved rounds, paired per-round ratios, ``forwardkit.measure``):

* ``parameters``: the reproduction's six models and the paper's WideNet-B/L/H against ViT-B/L/H of the same depth
  (built on the meta device), parameters in all and in the blocks, and the ratios WideNet / ViT;
* ``flops``: per-token MACs of one MoE FFN call against the dense FFN at E in {1, 4, 8}, K in {1, 2}: analytic
  (``K * 2CH + CE``: K times the dense FFN, independent of E) and counted by torch's FLOP counter on the sorted
  kernel (which also counts the capacity buffers' slack);
* ``dispatch``: one MoE FFN call at E in {1, 4, 8}, K in {1, 2}, training mode (capacity 1.2, router noise),
  forward and forward+backward: ``moe_sorted`` (this plugin's kernel), ``moe_einsum`` (the authors' one-hot
  dispatch/combine einsums, same routing and capacity), ``dense_active`` (a dense FFN of hidden width K * H: the
  same active FLOPs) and ``dense`` (hidden H); ratios over ``dense_active`` and over ``moe_sorted``;
* ``models``: one AdamW training step of the reproduction's WideNet (d) against the ViT (a) and the shared dense
  model (c), batch 128.

    python plugins/widenet/benchmarks/cost.py [--smoke] [--out PATH] [--threads N]

Writes plugins/widenet/reports/cost.json (``--smoke``: tiny shapes, 2 rounds, no file unless ``--out``).
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from forwardkit_widenet.moe import MoEFFN
from forwardkit_widenet.reproduction import ARM_MODELS, MODEL
from forwardkit_widenet.sizes import arm_sizes, preset_sizes
from forwardkit_widenet.vit import WideNetViT
from torch import Tensor, nn

from forwardkit.measure import count_macs, interleaved_ms, median_ratios, medians, save_report
from forwardkit.nn import FeedForward
from forwardkit.reproduce.spec import deep_merge

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
PRESET_PAIRS = {"widenet_b": "vit_b", "widenet_l": "vit_l", "widenet_h": "vit_h"}


# ---- parameters ------------------------------------------------------------------------------------------------
def _arm_models(image: int = 28) -> dict[str, dict[str, Any]]:
    return {name: {**{k: v for k, v in deep_merge(MODEL, over).items() if k != "name"}, "image_size": [image, image],
                   "in_channels": 1, "num_classes": 10} for name, over in ARM_MODELS.items()}


def parameters(smoke: bool) -> dict[str, Any]:
    arms = arm_sizes(_arm_models(), measure=False)
    presets = preset_sizes([] if smoke else [n for pair in PRESET_PAIRS.items() for n in pair])
    out: dict[str, Any] = {"arms": {k: v for k, v in arms.items() if k.endswith("parameters")},
                           "presets": {k: v for k, v in presets.items() if k.endswith("/parameters")}}
    ratios = {"widenet/vit": arms["widenet/parameters"] / arms["vit/parameters"],
              "widenet/vit (blocks)": arms["widenet/block_parameters"] / arms["vit/block_parameters"],
              "vit_moe/vit": arms["vit_moe/parameters"] / arms["vit/parameters"],
              "albert/vit": arms["albert/parameters"] / arms["vit/parameters"]}
    for widenet, vit in PRESET_PAIRS.items():
        if f"{widenet}/parameters" in presets:
            ratios[f"{widenet}/{vit}"] = presets[f"{widenet}/parameters"] / presets[f"{vit}/parameters"]
            ratios[f"{widenet}/vit_b"] = presets[f"{widenet}/parameters"] / presets["vit_b/parameters"]
    out["ratios"] = ratios
    return out


# ---- per-token compute -----------------------------------------------------------------------------------------
def _moe(dim: int, hidden: int, e: int, k: int, dispatch: str = "sorted") -> MoEFFN:
    torch.manual_seed(0)
    return MoEFFN(dim=dim, hidden_dim=hidden, num_experts=e, top_k=k, dispatch=dispatch)


def flops(tokens: int, dim: int, hidden: int, grid: list[tuple[int, int]]) -> list[dict[str, Any]]:
    rows = []
    x = torch.randn(tokens, dim)
    dense = FeedForward(dim=dim, hidden_dim=hidden).eval()
    with torch.no_grad():
        dense(x)  # its Pointwise layers time their kernels on the first call: keep that out of the count
    dense_macs = count_macs(lambda: dense(x)) / tokens
    for e, k in grid:
        moe = _moe(dim, hidden, e, k).train()
        analytic = k * 2 * dim * hidden + dim * e
        counted = count_macs(lambda m=moe: m(x)) / tokens  # type: ignore[misc]
        rows.append({"experts": e, "top_k": k, "dense_macs_per_token": dense_macs,
                     "moe_macs_per_token_analytic": analytic, "moe_macs_per_token_counted": counted,
                     "analytic_ratio_over_dense": analytic / (2 * dim * hidden),
                     "counted_ratio_over_dense": counted / dense_macs})
    return rows


# ---- dispatch timing -------------------------------------------------------------------------------------------
def _forward(module: nn.Module, x: Tensor) -> Callable[[], Any]:
    def call() -> None:
        with torch.no_grad():
            module(x)
    return call


def _forward_backward(module: nn.Module, x: Tensor) -> Callable[[], Any]:
    weights = torch.linspace(-1, 1, x.shape[-1])

    def call() -> None:
        module.zero_grad(set_to_none=True)
        (module(x) * weights).sum().backward()
    return call


def dispatch(tokens: int, dim: int, hidden: int, grid: list[tuple[int, int]], rounds: int,
             warmup: int) -> list[dict[str, Any]]:
    rows = []
    x = torch.randn(tokens, dim)
    for e, k in grid:
        sorted_moe, einsum_moe = _moe(dim, hidden, e, k), _moe(dim, hidden, e, k, "einsum")
        einsum_moe.load_state_dict(sorted_moe.state_dict())
        modules = {"moe_sorted": sorted_moe, "moe_einsum": einsum_moe,
                   "dense_active": FeedForward(dim=dim, hidden_dim=k * hidden),
                   "dense": FeedForward(dim=dim, hidden_dim=hidden)}
        for m in modules.values():
            m.train()  # training capacity and router noise
        for name, make in (("fwd", _forward), ("fwd+bwd", _forward_backward)):
            times = interleaved_ms({n: make(m, x) for n, m in modules.items()}, rounds=rounds, warmup=warmup)
            rows.append({"experts": e, "top_k": k, "tokens": tokens, "dim": dim, "hidden": hidden, "pass": name,
                         "median_ms": medians(times), "ratio_over_dense_active": median_ratios(times, "dense_active"),
                         "ratio_over_moe_sorted": median_ratios(times, "moe_sorted")})
    return rows


# ---- whole-model training step ---------------------------------------------------------------------------------
def models(batch: int, rounds: int, warmup: int, image: int) -> dict[str, Any]:
    configs = {n: c for n, c in _arm_models(image).items() if n in ("vit", "shared_dense", "widenet")}
    calls = {}
    for name, config in configs.items():
        torch.manual_seed(0)
        model = WideNetViT(**config).train()
        batch_data = model.example_batch(batch, generator=torch.Generator().manual_seed(0))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

        def step(m: nn.Module = model, o: torch.optim.Optimizer = opt, b: dict[str, Tensor] = batch_data) -> None:
            o.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(m(b["x"]), b["y"]).backward()
            o.step()
        calls[name] = step
    times = interleaved_ms(calls, rounds=rounds, warmup=warmup)
    return {"batch": batch, "image": image, "median_ms": medians(times), "ratio_over_vit": median_ratios(times, "vit")}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny shapes and 2 rounds (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    if args.smoke:
        grid, rounds, warmup = [(1, 1), (4, 2)], 2, 0
        shapes, batch, image = [(64, 16, 64)], 4, 14
    else:
        grid, rounds, warmup = [(e, k) for e in (1, 4, 8) for k in (1, 2) if k <= e], 15, 2  # no top-2 of 1
        # the reproduction's calls (128 images x 17 tokens, width 64) and the card's ViT-mini (64 x 50, width 96)
        shapes, batch, image = [(2176, 64, 256), (3200, 96, 384)], 128, 28
    result = {
        "threads": args.threads, "torch": torch.__version__, "machine": platform.machine(), "rounds": rounds,
        "warmup": warmup, "smoke": args.smoke,
        "parameters": parameters(args.smoke),
        "flops": flops(*shapes[0], grid),
        "dispatch": [row for shape in shapes for row in dispatch(*shape, grid, rounds, warmup)],
        "models": models(batch, rounds, warmup, image),
        "note": "ratios are medians over rounds of time / the baseline's time in the same round (above 1: slower); "
                "dense_active is a dense FFN of hidden width K*H (the MoE's active FLOPs), dense one of width H; "
                "MoE calls run in training mode (capacity factor 1.2, router noise)",
    }
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    summary = {f"E{r['experts']} K{r['top_k']} {r['tokens']}x{r['dim']} {r['pass']}": r["ratio_over_dense_active"]
               for r in result["dispatch"]}
    print(json.dumps({"parameters": result["parameters"]["ratios"], "dispatch": summary,
                      "models": result["models"]["ratio_over_vit"]}, indent=1))
    return result


if __name__ == "__main__":
    main()
