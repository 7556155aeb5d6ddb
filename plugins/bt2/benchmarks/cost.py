"""Cost benchmark (card "Performance notes"): the training-step overhead of BT^2 over BCT, and what caching the
orthogonal maps in eval saves, measured in one process with interleaved rounds (medians of per-round ratios).

1. ``steps`` — one training step (forward, loss, backward, Adam update) on a batch of 128 MNIST-sized images of
   the reproduction's systems: ``bct`` (bct_rule on the 32-d CNN; baseline), ``bt2`` (bt2_rule on the CNN with
   the basis-transformation head, 32 + 8 dims), ``bt2_no_cache`` (bt2_rule recomputing phi_old and phi_ind by a
   forward of the frozen models every step) and ``independent`` (plain backprop on the 32-d CNN). The frozen
   models' embeddings are cached after the first round, as after the first epoch of a run. The card expects
   BT^2 / BCT < 1.1.
2. ``eval_head`` — the head's eval-mode forward (no gradients) on a batch of 250 with the orthogonal matrices
   cached (computed once, reused while the parameters do not change) against recomputing them (the
   parametrisation's matrix exponential every call), at the miniature's d = 32 and the paper's d = 128.

    python plugins/bt2/benchmarks/cost.py [--smoke] [--out PATH] [--threads N] [--rounds R]

Writes plugins/bt2/reports/cost.json (``--smoke``: tiny models, 3 rounds, no file unless ``--out``).
"""

from __future__ import annotations

import argparse
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from forwardkit_bt2.basis_transform import BasisTransformHead
from forwardkit_bt2.config import BasisTransformHeadConfig
from forwardkit_bt2.reproduction import ARMS, BT2_HEAD, OLD, OPTIM

import forwardkit
from forwardkit.interfaces import RunContext
from forwardkit.measure import interleaved_ms, median_ratios, medians, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"


def _system(arm: str, smoke: bool) -> dict[str, Any]:
    cfg = ARMS[arm]["config"]
    members: dict[str, Any] = {"old": dict(OLD)}
    if cfg.get("indep"):
        members["indep"] = dict(ARMS["independent"]["config"]["member"])
    members["new"] = dict(cfg["member"])
    if smoke:
        members = {k: {**v, "widths": [4] if k == "old" else [4, 8]} for k, v in members.items()}
    return {"name": "compat_system", "members": members, "adapters": cfg.get("adapters", {}), "train": "new"}


def step_candidates(batch: int, smoke: bool) -> dict[str, Callable[[], Any]]:
    g = torch.Generator().manual_seed(0)
    data = {"x": torch.rand(batch, 28, 28, 1, generator=g), "y": torch.randint(0, 10, (batch,), generator=g)}
    rules = {"bct": ("bct", {"name": "bct_rule"}), "bt2": ("bt2", {"name": "bt2_rule"}),
             "bt2_no_cache": ("bt2", {"name": "bt2_rule", "cache_embeddings": False}),
             "independent": ("independent", {"name": "backprop", **OPTIM})}
    calls: dict[str, Callable[[], Any]] = {}
    for label, (arm, rule_spec) in rules.items():
        torch.manual_seed(0)
        model = forwardkit.build_model(_system(arm, smoke))
        ctx = RunContext(model=model, loss_fn=lambda out, b: F.cross_entropy(out, b["y"]), steps_per_epoch=32,
                         total_steps=160, epochs=5)
        conf = {k: v for k, v in rule_spec.items() if k != "name"}
        if rule_spec["name"] != "backprop":
            conf["optim"] = dict(OPTIM)
        rule = forwardkit.create("learning_rule", rule_spec["name"], conf)
        rule.setup(model, ctx)
        model.train()

        def call(rule: Any = rule, ctx: RunContext = ctx) -> Any:
            return rule.step(data, ctx)

        calls[label] = call
    return calls


def head_candidates(d: int, batch: int) -> dict[str, Callable[[], Any]]:
    torch.manual_seed(0)
    cfg = BasisTransformHeadConfig(**{**{k: v for k, v in BT2_HEAD.items() if k != "name"},
                                      "d_new": d, "d_old": d, "to_add": d // 4})
    head = BasisTransformHead(cfg, in_features=2 * d, num_classes=10).eval()
    e = torch.randn(batch, 2 * d)

    @torch.no_grad()
    def cached() -> Any:
        return head.parts(e)

    @torch.no_grad()
    def recomputed() -> Any:
        head._eval_cache = None
        return head.parts(e)

    return {f"cached_d{d}": cached, f"recomputed_d{d}": recomputed}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rounds = args.rounds or (3 if args.smoke else 25)
    batch = 16 if args.smoke else 128
    steps = interleaved_ms(step_candidates(batch, args.smoke), rounds=rounds, warmup=2)
    out: dict[str, Any] = {
        "smoke": args.smoke, "threads": args.threads, "rounds": rounds, "batch": batch,
        "torch": torch.__version__, "machine": platform.machine(),
        "steps": {"median_ms": medians(steps), "ratio_over_bct": median_ratios(steps, "bct")},
        "eval_head": {},
    }
    out["steps"]["bt2_over_bct_below_1_1"] = out["steps"]["ratio_over_bct"]["bt2"] < 1.1
    for d in ((8,) if args.smoke else (32, 128)):
        times = interleaved_ms(head_candidates(d, 16 if args.smoke else 250), rounds=rounds * 4, warmup=3)
        out["eval_head"][f"d{d}"] = {"median_ms": medians(times),
                                     "recomputed_over_cached": median_ratios(times, f"cached_d{d}")[
                                         f"recomputed_d{d}"]}
    path = args.out if args.out is not None else (None if args.smoke else OUT)
    if path is not None:
        save_report(out, path)
    return out


if __name__ == "__main__":
    result = main()
    print(result["steps"]["ratio_over_bct"], {k: v["recomputed_over_cached"] for k, v in result["eval_head"].items()})
