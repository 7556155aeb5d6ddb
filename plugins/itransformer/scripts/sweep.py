"""Extra measurements for the README (not part of `forwardkit reproduce`): the reproduction's three arms
(a) on macrodata at horizons S in {1, 2, 4, 8} (lookback 16) and (b) on the card's synthetic lagged
data (N=16, 4 drivers, lags <= 24, lookback 96, horizon 24, 8 epochs). Writes reports/sweep.json.
With ``lookback``: the card's lookback sweep (paper Fig. 6), the three models on the synthetic data at
lookback T in {48, 96, 192} (horizon 24), written to reports/lookback_sweep.json after every cell.

Run: OMP_NUM_THREADS=1 python plugins/itransformer/scripts/sweep.py [lookback]
"""

from __future__ import annotations

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


def synthetic_experiments(arm: str, data: dict) -> list[dict]:
    """The experiments (one per seed) of ``arm`` on the synthetic ``data``: Adam 1e-3, batch 32, 8 epochs."""
    models = {"temporal": {"name": "temporal_transformer", **ENCODER},
              "inverted": {"name": "itransformer", **ENCODER}, "rlinear": {"name": "rlinear"}}
    return [{"name": f"synthetic-{arm}", "data": data, "model": models[arm], "seed": s,
             "learning_rule": {"name": "backprop", "optimizer": "adam", "lr": 0.001},
             "trainer": {"epochs": 8, "batch_size": 32, "progress": "none", "plots": False, "task": TASK}}
            for s in SEEDS]


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


if __name__ == "__main__":
    if sys.argv[1:] == ["lookback"]:
        lookback_sweep()
    else:
        main()
