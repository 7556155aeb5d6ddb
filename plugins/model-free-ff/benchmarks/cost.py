"""Cost benchmark (card "Performance notes"): model-free FF against in-silico backprop and physics-aware training.

One process trains the three rules on the same ``hybrid_pnn`` (digits, the reproduction's model: 2 blocks,
simulated optics 128 modes, 1 % detection noise, same initial weights and physics) full-batch for
``--epochs`` epochs, and measures, per rule:

* **wall time to a target test accuracy**: every epoch is one timed call of ``forwardkit.measure.interleaved_ms``
  (rules in alternating order from epoch to epoch, so load changes hit all alike), test accuracy after each
  epoch untimed; the time to target is the summed time of the epochs until the first epoch at or above
  ``--target``; per-epoch time ratios are ``median_ratios`` against ``model_free_ff`` (paired by epoch);
* **digital MACs** of a training epoch (``torch.utils.flop_counter.FlopCounterMode``, forward and backward,
  MACs = FLOPs / 2) with the hardware as a *numpy* black box, which no torch counter sees: FF and PAT pay
  only their digital layers (and PAT its twins: fitting them in epoch 1, running them in every backward
  pass), in-silico BP also pays for simulating the physics (its whole point: the physics is a program).
  Epoch 1 and epoch 2 are counted separately (PAT fits its twins in epoch 1);
* **physical queries** (samples measured) per training epoch and per predicted sample (``C x K`` for all).

    python plugins/model-free-ff/benchmarks/cost.py [--smoke] [--out PATH] [--threads N] [--epochs E]

Writes plugins/model-free-ff/reports/cost.json (``--smoke``: tiny model, 2 epochs, no file unless ``--out``).
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from forwardkit_model_free_ff.optics import optical_response_numpy
from torch.utils.flop_counter import FlopCounterMode

import forwardkit
from forwardkit.interfaces import RunContext
from forwardkit.measure import interleaved_ms, median_ratios, medians, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
BASELINE = "model_free_ff"
RULES: dict[str, dict[str, Any]] = {
    "model_free_ff": {"name": "model_free_ff"},
    "insilico_bp": {"name": "insilico_bp"},
    "physics_aware_training": {"name": "physics_aware_training"},
}
COMMON = {"alpha": 4.0, "inner_steps": 10, "lr": 5e-4}


def digits(seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """The reproduction's split of scikit-learn's digits (by registry name), as full-batch tensors."""
    ds = forwardkit.create("dataset", "digits", val_fraction=0.0, test_fraction=0.2, seed=seed)
    out = {}
    for split in ("train", "test"):
        data = ds.split(split)
        items = [data[i] for i in range(len(data))]
        out[split] = {"x": torch.stack([it["x"].reshape(-1) for it in items]),
                      "y": torch.stack([torch.as_tensor(it["y"]) for it in items]).long()}
    return out


def build(model_cfg: dict[str, Any], rule_cfg: dict[str, Any], seed: int) -> tuple[Any, Any, RunContext]:
    """A model (same weights and physics for every rule: same seed) and its set-up rule."""
    torch.manual_seed(seed)
    model = forwardkit.create("model", "hybrid_pnn", **model_cfg)
    name = rule_cfg["name"]
    rule = forwardkit.create("learning_rule", name, **{k: v for k, v in rule_cfg.items() if k != "name"})
    ctx = RunContext(model=model)
    rule.setup(model, ctx)
    return model, rule, ctx


def as_numpy_hardware(model: Any) -> None:
    """Replace every simulated layer by the same measurement in numpy (invisible to torch's counters)."""
    for k, box in enumerate(model.physics):
        sim = box.hardware
        weight = sim.weight.numpy().copy()
        kind, i_sat = sim.config.kind, sim.config.i_sat
        model.replace_physics(k, lambda x, w=weight, kind=kind, i_sat=i_sat: optical_response_numpy(x, w, kind, i_sat),
                              interface="numpy")


def epoch(rule: Any, ctx: RunContext, batch: dict[str, torch.Tensor]) -> None:
    """One full-batch training epoch (one rule step)."""
    ctx.model.train()
    rule.step(batch, ctx)
    ctx.step += 1
    ctx.epoch += 1


@torch.no_grad()
def accuracy(model: Any, batch: dict[str, torch.Tensor]) -> float:
    model.eval()
    return float((model(batch["x"]).argmax(-1) == batch["y"]).float().mean())


def count_epoch_macs(model_cfg: dict[str, Any], rule_cfg: dict[str, Any], seed: int,
                     batch: dict[str, torch.Tensor]) -> list[int]:
    """Digital MACs (forward + backward) of epochs 1 and 2, with numpy hardware (in-silico BP: the simulator)."""
    model, rule, ctx = build(model_cfg, rule_cfg, seed)
    if rule_cfg["name"] != "insilico_bp":
        as_numpy_hardware(model)
    out = []
    for _ in range(2):
        counter = FlopCounterMode(display=False)
        with counter:
            epoch(rule, ctx, batch)
        out.append(int(counter.get_total_flops() // 2))
    return out


def inference_macs(model: Any, batch: dict[str, torch.Tensor]) -> int:
    """Digital MACs of predicting ``batch`` with numpy hardware (the C x K goodness passes, digital part)."""
    probe = copy.deepcopy(model)
    as_numpy_hardware(probe)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        probe(batch["x"])
    return int(counter.get_total_flops() // 2)


def bench(*, epochs: int, target: float, model_cfg: dict[str, Any], rules: dict[str, dict[str, Any]], seed: int
          ) -> dict[str, Any]:
    data = digits()
    train, test = data["train"], data["test"]
    runs = {name: build(model_cfg, cfg, seed) for name, cfg in rules.items()}
    times: dict[str, list[float]] = {name: [] for name in runs}
    curves: dict[str, list[float]] = {name: [] for name in runs}
    queries: dict[str, list[int]] = {name: [] for name in runs}
    for e in range(epochs):
        names = list(runs) if e % 2 == 0 else list(reversed(runs))
        calls: dict[str, Callable[[], None]] = {
            n: functools.partial(epoch, runs[n][1], runs[n][2], train) for n in names}
        before = {n: runs[n][0].queries() for n in names}
        for n, t in interleaved_ms(calls, rounds=1, warmup=0).items():
            times[n].append(t[0])
            queries[n].append(runs[n][0].queries() - before[n])
        for n in runs:
            curves[n].append(accuracy(runs[n][0], test))
        print(f"epoch {e + 1}: " + ", ".join(f"{n} {curves[n][-1]:.3f} ({times[n][-1]:.0f} ms)" for n in runs),
              flush=True)
    per_rule: dict[str, Any] = {}
    for n, (model, _, _) in runs.items():
        reached = next((i for i, a in enumerate(curves[n]) if a >= target), None)
        before_q = model.queries()
        accuracy(model, test)
        per_rule[n] = {
            "final_test_accuracy": curves[n][-1],
            "best_test_accuracy": max(curves[n]),
            "epochs_to_target": None if reached is None else reached + 1,
            "ms_to_target": None if reached is None else sum(times[n][: reached + 1]),
            "total_train_ms": sum(times[n]),
            "train_queries_epoch1": queries[n][0],
            "train_queries_per_epoch": queries[n][-1],
            "inference_queries_per_sample": (model.queries() - before_q) / len(test["y"]),
            "digital_macs_epoch1_epoch2": count_epoch_macs(model_cfg, rules[n], seed, train),
            "inference_digital_macs_per_sample": inference_macs(model, test) / len(test["y"]),
            "test_accuracy_curve": curves[n],
        }
    base = per_rule[BASELINE]
    ratios: dict[str, Any] = {"epoch_time": median_ratios(times, BASELINE)}
    for key in ("ms_to_target", "train_queries_per_epoch"):
        ratios[key] = {n: (r[key] / base[key] if r[key] is not None and base[key] else None)
                       for n, r in per_rule.items()}
    ratios["digital_macs_epoch2"] = {n: r["digital_macs_epoch1_epoch2"][1] / base["digital_macs_epoch1_epoch2"][1]
                                     for n, r in per_rule.items()}
    ratios["digital_macs_epoch1"] = {n: r["digital_macs_epoch1_epoch2"][0] / base["digital_macs_epoch1_epoch2"][0]
                                     for n, r in per_rule.items()}
    return {"rules": per_rule, "median_epoch_ms": medians(times), "ratios_over_model_free_ff": ratios,
            "n_train": len(train["y"]), "n_test": len(test["y"])}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny model and 2 epochs (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--target", type=float, default=0.95, help="test accuracy whose wall time is compared")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    physics = {"name": "simulated_optical", "out_dim": 128, "kind": "amplitude", "noise_std": 0.01}
    rules = {n: {**cfg, **COMMON} for n, cfg in RULES.items()}
    epochs = args.epochs
    if args.smoke:
        physics["out_dim"] = 16
        epochs = 2
        rules["physics_aware_training"].update(n_probe=64, twin_hidden=16, twin_steps=5)
        for cfg in rules.values():
            cfg["inner_steps"] = 2
    model_cfg = {"in_features": 64, "num_classes": 10, "num_blocks": 2, "physics": physics}
    result = {"threads": args.threads, "torch": torch.__version__, "machine": platform.machine(),
              "smoke": args.smoke, "epochs": epochs, "target": args.target, "seed": args.seed, "model": model_cfg,
              "rules_config": rules,
              **bench(epochs=epochs, target=args.target, model_cfg=model_cfg, rules=rules, seed=args.seed),
              "note": "ratios are rule / model_free_ff (above 1: costlier than FF); epoch_time: median over epochs of "
                      "the per-epoch ratio (interleaved); digital MACs: FlopCounterMode over forward+backward with "
                      "the hardware as a numpy black box (in-silico BP: the torch simulator, which is digital work); "
                      "queries: samples measured by the physical layers (BP: simulator evaluations)"}
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    print(json.dumps(result["ratios_over_model_free_ff"], indent=1))
    return result


if __name__ == "__main__":
    main()
