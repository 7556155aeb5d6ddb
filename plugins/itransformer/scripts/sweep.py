"""Extra measurements for the README (not part of `forwardkit reproduce`): the reproduction's three arms
(a) on macrodata at horizons S in {1, 2, 4, 8} (lookback 16) and (b) on the card's synthetic lagged
data (N=16, 4 drivers, lags <= 24, lookback 96, horizon 24, 8 epochs). Writes reports/sweep.json.
With ``lookback``: the card's lookback sweep (paper Fig. 6), the three models on the synthetic data at
lookback T in {48, 96, 192} (horizon 24), written to reports/lookback_sweep.json after every cell.
With ``partial``: the card's extra experiment (paper §4.3, Fig. 8), the inverted model at lookback 96 on
the synthetic data trained with ``partial_variate_training`` (20% of the variates per batch, all variates
at test) vs full training, seeds 0, 1, 2, with the training time per epoch; reports/partial_variate.json.
``partial --smoke`` runs the same code on a tiny setup (seconds) and writes nowhere unless ``--out``.

Run: OMP_NUM_THREADS=1 python plugins/itransformer/scripts/sweep.py [lookback | partial [--smoke] [--out PATH]]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from forwardkit_itransformer.reproduction import ENCODER, SPEC, TASK

from forwardkit.engine.trainer import Trainer
from forwardkit.reproduce.spec import deep_merge

OUT = Path(__file__).resolve().parents[1] / "reports" / "sweep.json"
OUT_LOOKBACK = OUT.with_name("lookback_sweep.json")
OUT_PARTIAL = OUT.with_name("partial_variate.json")
LOOKBACKS = (48, 96, 192)
SEEDS = [0, 1, 2]
SYNTHETIC = {"name": "lagged_multivariate", "num_variates": 16, "num_drivers": 4, "length": 4000, "max_lag": 24,
             "noise": 0.3, "lookback": 96, "horizon": 24, "stride": 2}


def run(exp: dict) -> dict:
    start = time.perf_counter()
    final = Trainer(exp, write=False, verbose=False).fit().final
    keep = {k: float(v) for k, v in final.items() if k.startswith("test/")}
    keep["seconds"] = time.perf_counter() - start
    return keep


def summary(runs: list[dict]) -> dict:
    keys = [k for k in runs[0] if k != "seconds"]
    return {k: {"mean": statistics.mean(r[k] for r in runs), "std": statistics.stdev(r[k] for r in runs)}
            for k in keys} | {"seconds": sum(r["seconds"] for r in runs)}


def synthetic_experiments(arm: str, data: dict, seeds: list[int] = SEEDS) -> list[dict]:
    """The experiments (one per seed) of ``arm`` on the synthetic ``data``: Adam 1e-3, batch 32, 8 epochs."""
    models = {"temporal": {"name": "temporal_transformer", **ENCODER},
              "inverted": {"name": "itransformer", **ENCODER}, "rlinear": {"name": "rlinear"}}
    return [{"name": f"synthetic-{arm}", "data": data, "model": models[arm], "seed": s,
             "learning_rule": {"name": "backprop", "optimizer": "adam", "lr": 0.001},
             "trainer": {"epochs": 8, "batch_size": 32, "progress": "none", "plots": False, "task": TASK}}
            for s in seeds]


PARTIAL_FRACTION = 0.2
PARTIAL_SMOKE = {"data": {"length": 600, "lookback": 24, "horizon": 6, "stride": 6},
                 "model": {"d_model": 16, "num_heads": 2, "d_ff": 16}, "trainer": {"epochs": 1, "max_steps": 3}}


def partial_experiments(seed: int, smoke: bool = False) -> dict[str, dict]:
    """The two arms at lookback 96 for one seed, identical except for the ``partial_variate_training``
    callback (fraction 0.2, its subset generator seeded with the run's seed)."""
    full = synthetic_experiments("inverted", {**SYNTHETIC, "lookback": 96}, seeds=[seed])[0]
    if smoke:
        full = deep_merge(full, PARTIAL_SMOKE)
    partial = deep_merge(full, {"name": "synthetic-inverted-partial",
                                "callbacks": [{"name": "partial_variate_training", "fraction": PARTIAL_FRACTION,
                                               "seed": seed}]})
    return {"full": full, "partial": partial}


def timed_run(exp: dict) -> dict:
    """Test metrics plus timing: ``train_s_per_epoch`` is the trainer's training-loop time (forward,
    backward, update; no evaluation) per step, times the steps of one epoch (the first step, which pays
    one-time costs, is excluded by the trainer); ``wall_s`` the whole fit including evaluation."""
    start = time.perf_counter()
    trainer = Trainer(exp, write=False, verbose=False)
    result = trainer.fit()
    wall = time.perf_counter() - start
    keep = {k: float(v) for k, v in result.final.items() if k.startswith("test/")}
    timed_steps = max(result.steps - 1, 1)
    epochs = exp["trainer"]["epochs"]
    steps_per_epoch = result.steps / epochs
    keep["train_s_per_epoch"] = trainer.train_seconds / timed_steps * steps_per_epoch
    keep["train_s_per_step"] = trainer.train_seconds / timed_steps
    keep["wall_s"] = wall
    return keep


def partial_sweep(smoke: bool = False, out: Path | None = OUT_PARTIAL, seeds: list[int] = SEEDS) -> dict:
    """Partial-variate vs full training of the inverted model (card's "Extra"); the arms alternate per
    seed so that machine load affects both alike. Returns the results (also written to ``out``)."""
    torch.set_num_threads(1)
    keep = ("test/mse", "test/mae", "test/mse@step1", "test/mse@step24", "train_s_per_epoch",
            "train_s_per_step", "wall_s")
    runs: dict[str, list[dict]] = {"full": [], "partial": []}
    for seed in seeds:
        for arm, exp in partial_experiments(seed, smoke).items():
            runs[arm].append(timed_run(exp))
            r = runs[arm][-1]
            print(f"partial seed {seed} {arm}: test/mse {r['test/mse']:.4f} "
                  f"({r['train_s_per_epoch']:.2f} s/epoch)", flush=True)

    def stats(values: list[float]) -> dict:
        return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                "values": values}

    cells = {arm: {k: stats([r[k] for r in rs if k in r]) for k in keep if all(k in r for r in rs)}
             for arm, rs in runs.items()}
    ratio = cells["partial"]["test/mse"]["mean"] / cells["full"]["test/mse"]["mean"]
    per_seed = [p["test/mse"] / f["test/mse"] for p, f in zip(runs["partial"], runs["full"], strict=True)]
    time_ratio = cells["partial"]["train_s_per_epoch"]["mean"] / cells["full"]["train_s_per_epoch"]["mean"]
    sample = partial_experiments(seeds[0], smoke)
    results = {"setup": {"seeds": seeds, "fraction": PARTIAL_FRACTION, "smoke": smoke,
                         "data": sample["full"]["data"], "model": sample["full"]["model"],
                         "trainer": sample["full"]["trainer"], "torch": torch.__version__},
               "cells": cells,
               "mse_ratio_partial_over_full": ratio, "mse_ratio_per_seed": per_seed,
               "train_time_ratio_partial_over_full": time_ratio,
               "card_expectation_within_15pct": bool(ratio <= 1.15)}
    if out is not None:
        out.write_text(json.dumps(results, indent=2))
        print(f"wrote {out}")
    print(f"partial/full test MSE {ratio:.3f}, train time per epoch {time_ratio:.3f}", flush=True)
    return results


def lookback_sweep() -> None:
    """Test MSE of the three models at every lookback (fast arms first; the file is rewritten per cell)."""
    torch.set_num_threads(1)
    keep = ("test/mse", "test/mae", "test/mse@step1", "test/mse@step24")
    results: dict = {"setup": {"seeds": SEEDS, "synthetic_data": SYNTHETIC, "lookbacks": list(LOOKBACKS),
                               "encoder": ENCODER, "epochs": 8, "torch": torch.__version__}, "cells": {}}
    for arm in ("inverted", "rlinear", "temporal"):
        for lookback in LOOKBACKS:
            runs = [run(e) for e in synthetic_experiments(arm, {**SYNTHETIC, "lookback": lookback})]
            cell = {k: {"mean": statistics.mean(r[k] for r in runs), "std": statistics.stdev(r[k] for r in runs),
                        "values": [r[k] for r in runs]} for k in keep}
            cell["seconds"] = sum(r["seconds"] for r in runs)
            results["cells"].setdefault(arm, {})[f"T={lookback}"] = cell
            OUT_LOOKBACK.write_text(json.dumps(results, indent=2))
            print(f"lookback {lookback} {arm}: test/mse {cell['test/mse']['mean']:.4f} ± "
                  f"{cell['test/mse']['std']:.4f} ({cell['seconds']:.0f}s)", flush=True)
    print(f"wrote {OUT_LOOKBACK}")


def main() -> None:
    torch.set_num_threads(1)
    results: dict = {"macrodata_horizons": {}, "synthetic": {}}
    for horizon in (1, 2, 4, 8):
        for arm in SPEC.arms:
            exps = [deep_merge(SPEC.experiment(arm, s), {"data": {"horizon": horizon}}) for s in SEEDS]
            res = summary([run(e) for e in exps])
            results["macrodata_horizons"].setdefault(f"S={horizon}", {})[arm] = res
            print(f"macrodata S={horizon} {arm}: test/mse {res['test/mse']['mean']:.4f}", flush=True)
    for arm in ("temporal", "inverted", "rlinear"):
        exps = synthetic_experiments(arm, SYNTHETIC)
        res = summary([run(e) for e in exps])
        results["synthetic"][arm] = res
        print(f"synthetic {arm}: test/mse {res['test/mse']['mean']:.4f} ({res['seconds']:.0f}s)", flush=True)
    results["setup"] = {"seeds": SEEDS, "synthetic_data": SYNTHETIC, "encoder": ENCODER,
                        "macrodata": SPEC.base["data"], "torch": torch.__version__}
    OUT.write_text(json.dumps(results, indent=2))
    print(f"wrote {OUT}")


def cli(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="main", choices=("main", "lookback", "partial"))
    parser.add_argument("--smoke", action="store_true", help="partial mode only: a tiny setup, seconds")
    parser.add_argument("--out", type=Path, default=None, help="partial mode: output JSON path")
    args = parser.parse_args(argv)
    if args.smoke and args.mode != "partial":
        parser.error("--smoke is only offered for the partial mode")
    if args.mode == "lookback":
        lookback_sweep()
    elif args.mode == "partial":
        partial_sweep(smoke=args.smoke, out=args.out if args.smoke or args.out else OUT_PARTIAL,
                      seeds=SEEDS[:2] if args.smoke else SEEDS)
    else:
        main()


if __name__ == "__main__":
    cli(sys.argv[1:])
