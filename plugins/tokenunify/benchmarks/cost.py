"""Cost benchmark (card "Performance notes"): TokenUnify's in-painting formulation costs one dense forward per
sample whatever k is, so a pre-training step costs an MAE-style step plus a tiny head.

Timed in one process, interleaved (``forwardkit.measure.interleaved_ms``), on the reproduction's U-Net and a
batch of 32 images of 32 x 32 (K = 64 tokens), each candidate with its own copy of the model and optimizer:

* ``supervised``: a plain backprop step of the same U-Net with boundary BCE (the fine-tuning step; the baseline);
* ``mae``: a ``mixture_token_prediction`` step of the random objective (the MAE-style step);
* ``next_next_all``: a step of next-token + next-all (TokenUnify's stage 2: perturbation, prefix mask, one
  forward, the head);
* ``next_all``: next-all only (no head), and ``next_all_k1`` / ``next_all_k63``: the same step with the prefix
  length pinned to k = 1 and k = K - 1, to show that the cost does not depend on k.

Reported: per-round median ratios over ``mae`` (and over ``supervised``), the forwards per step (1 for every
objective), and the parameters of the next-token head against the U-Net's. No speed claim of the paper is
checked beyond this ("Mamba reduces computational complexity" is not claimed here).

    python plugins/tokenunify/benchmarks/cost.py [--smoke] [--out PATH] [--threads N] [--rounds N]

Writes plugins/tokenunify/reports/cost.json (``--smoke``: a tiny model and few rounds, no file unless ``--out``).
"""

from __future__ import annotations

import argparse
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import torch
import torch.nn.functional as F
from forwardkit_tokenunify import masking
from forwardkit_tokenunify.experiments import DATA, MODEL, PATCH
from forwardkit_tokenunify.rule import MixtureTokenPrediction

import forwardkit
from forwardkit.interfaces import RunContext
from forwardkit.measure import count_parameters, interleaved_ms, median_ratios, medians, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
BASELINE = "mae"


def _model(spec: dict[str, Any], size: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return forwardkit.build_model({**spec, "input_size": [size, size]})


def candidates(spec: dict[str, Any], size: int, batch: int) -> tuple[dict[str, Callable[[], Any]], dict[str, Any]]:
    """One training step per candidate (own model and optimizer each), and static figures."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, size, size, 1, generator=g)
    y = (torch.rand(batch, size, size, generator=g) < 0.2).float()
    k_tokens = (size // PATCH[0]) * (size // PATCH[1])

    net = _model(spec, size)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def supervised() -> None:
        opt.zero_grad(set_to_none=True)
        F.binary_cross_entropy_with_logits(net(x)[..., 0], y).backward()
        opt.step()

    def rule_step(objectives: list[str], k: int | None = None) -> tuple[Callable[[], Any], MixtureTokenPrediction]:
        model = _model(spec, size)
        rule = MixtureTokenPrediction(patch=PATCH, seed=0, phases=[{"epochs_frac": 1.0, "objectives": objectives}])
        ctx = RunContext(model=model, epochs=1, steps_per_epoch=1, total_steps=1)
        rule.setup(model, ctx)
        batch_ = {"x": x}
        if k is None:
            return (lambda: rule.step(batch_, ctx)), rule
        fixed = torch.full((batch,), k, dtype=torch.long)

        def pinned() -> Any:
            with mock.patch.object(masking, "draw_prefix_lengths", lambda *a, **kw: fixed):
                return rule.step(batch_, ctx)

        return pinned, rule

    mae, _ = rule_step(["random"])
    stage2, rule2 = rule_step(["next", "next_all"])
    next_all, _ = rule_step(["next_all"])
    k1, _ = rule_step(["next_all"], 1)
    k_last, _ = rule_step(["next_all"], k_tokens - 1)
    calls = {"supervised": supervised, "mae": mae, "next_next_all": stage2, "next_all": next_all,
             "next_all_k1": k1, f"next_all_k{k_tokens - 1}": k_last}
    assert rule2.head is not None
    static = {"tokens": k_tokens, "unet_parameters": count_parameters(net),
              "head_parameters": count_parameters(rule2.head),
              "forwards_per_step": {"supervised": 1, "mae": 1, "next_next_all": 1, "next_all": 1}}
    static["head_over_unet_parameters"] = static["head_parameters"] / static["unet_parameters"]
    return calls, static


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    spec = {**MODEL, "widths": [4, 8]} if args.smoke else dict(MODEL)
    size = 16 if args.smoke else int(DATA["size"])
    batch = 4 if args.smoke else 32
    rounds = args.rounds or (3 if args.smoke else 25)
    calls, static = candidates(spec, size, batch)
    # the masking module is patched inside the pinned candidates; the rule module imported prefix_inputs from it
    times = interleaved_ms(calls, rounds=rounds, warmup=1 if args.smoke else 3)
    result: dict[str, Any] = {
        "smoke": args.smoke, "threads": args.threads, "rounds": rounds, "batch": batch, "image": [size, size],
        "patch": PATCH, "model": spec, "median_ms": medians(times),
        "ratio_over_mae": median_ratios(times, BASELINE),
        "ratio_over_supervised": median_ratios(times, "supervised"),
        **static,
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cpu": platform.processor()},
    }
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    return result


if __name__ == "__main__":
    res = main()
    print({k: res[k] for k in ("median_ms", "ratio_over_mae", "ratio_over_supervised", "head_over_unet_parameters")})
