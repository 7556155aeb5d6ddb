"""A sweep's time to its best trial: `forwardkit sweep`'s driver on a small real search, timed end to end.

The search: the MetaFormer of examples/metaformer-digits.yaml on scikit-learn's 8x8 digits (4 epochs), over
the learning rate, the weight decay and the head size of its first attention stage, 16 trials of TPE,
maximising val/accuracy. Each configuration runs as its own sweep (a
fresh SQLite study) from the same seed:

* ``median``: median pruning fed by the trainer's per-epoch evaluations (the default of the command);
* ``none``: no pruning (every trial trains its 4 epochs);
* ``ray``: median pruning, the trials as Ray tasks on a local Ray instance with as many CPUs as this
  machine gives (``--no-ray`` leaves it out; ``--address`` uses a running cluster). The instance is started
  before the sweep and its start timed apart (``ray_start_seconds``); each Ray worker still pays its own
  imports on its first trial.

An untimed one-trial sweep first pays the imports every process pays once. Recorded per configuration: the
seconds from the sweep's start to the end of its best trial, the total seconds, the best trial's number and
value, how many trials were pruned, and the mean seconds of a complete and of a pruned trial; with the
machine it ran on and its load average.

    python benchmarks/sweep_time.py             # the full measurement (about 5 minutes on 2 cores)
    python benchmarks/sweep_time.py --smoke     # seconds: 3 tiny trials, proves the script runs
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # a local Ray instance stays on 127.0.0.1

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info

from forwardkit.measure import save_report

OUT = Path(__file__).resolve().parent / "results" / "sweep_time.json"

EXPERIMENT: dict[str, Any] = {  # examples/metaformer-digits.yaml, 4 epochs, without its callbacks
    "name": "sweep-metaformer-digits",
    "data": {"name": "digits"},
    "model": {"name": "metaformer", "depths": [1, 1, 2, 1], "dims": [16, 32, 48, 64], "stem_stride": 1,
              "token_mixers": ["identity", "identity", {"name": "attention", "head_dim": 16},
                               {"name": "attention", "head_dim": 16}],
              "res_scale_init": [None, None, 1.0, 1.0]},
    "learning_rule": {"name": "backprop", "optimizer": "adamw", "lr": 0.003, "weight_decay": 0.05,
                      "schedule": "cosine", "warmup_epochs": 1},
    "trainer": {"epochs": 4, "batch_size": 64, "plots": False, "test_at_end": False, "checkpoint_every": 0},
    "seed": 0,
}
SPACE = ["learning_rule.lr=loguniform(1e-4,1e-2)", "learning_rule.weight_decay=loguniform(1e-4,1e-1)",
         "model.token_mixers.2.head_dim=choice(8,16)"]
SMOKE: dict[str, Any] = {
    "name": "sweep-smoke",
    "data": {"name": "blobs", "n_samples": 240, "num_classes": 3, "noise": 2.0},
    "model": {"name": "mlp", "hidden": [4]},
    "learning_rule": {"name": "backprop", "lr": 0.01},
    "trainer": {"epochs": 2, "batch_size": 32, "plots": False, "test_at_end": False, "checkpoint_every": 0},
}


def one_sweep(folder: Path, *, experiment: dict[str, Any], space: list[str], trials: int, pruner: str,
              backend: str = "local", address: str | None = None) -> dict[str, Any]:
    """Run one fresh sweep in ``folder``; its timings and outcome."""
    from forwardkit.sweep.driver import SweepSettings, run_sweep
    from forwardkit.sweep.params import parse_params
    from forwardkit.sweep.study import default_storage

    settings = SweepSettings(experiment=experiment, params=parse_params(space), metric="val/accuracy",
                             direction="maximize", n_trials=trials, out_dir=folder,
                             storage=default_storage(folder), study_name=f"bench-{pruner}-{backend}",
                             pruner=pruner, backend=backend, address=address, plots=False,
                             say=lambda line: None)
    start = time.time()
    result = run_sweep(settings)
    total = time.time() - start
    trials_done = result.study.trials
    best = result.study.best_trial
    seconds = {state: [float(t.user_attrs.get("seconds", 0.0)) for t in trials_done if t.state.name == state]
               for state in ("COMPLETE", "PRUNED")}
    return {
        "backend": backend, "pruner": pruner, "trials": len(trials_done),
        "seconds_to_best": round(best.datetime_complete.timestamp() - start, 2),
        "seconds_total": round(total, 2),
        "best_trial": best.number, "best_value": best.value,
        "best_params": {k: v for k, v in best.params.items()},
        "pruned": len(seconds["PRUNED"]),
        "mean_seconds_complete_trial": round(statistics.fmean(seconds["COMPLETE"]), 3) if seconds["COMPLETE"] else None,
        "mean_seconds_pruned_trial": round(statistics.fmean(seconds["PRUNED"]), 3) if seconds["PRUNED"] else None,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--smoke", action="store_true", help="3 tiny trials, local backend only")
    parser.add_argument("--no-ray", action="store_true", help="leave out the Ray configuration")
    parser.add_argument("--address", default=None, help="a running Ray cluster for the ray configuration")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    experiment, space, trials = (SMOKE, SPACE[:1], 3) if args.smoke else (EXPERIMENT, SPACE, args.trials)
    configs = [("median", "local")] if args.smoke else [("median", "local"), ("none", "local")]
    if not (args.smoke or args.no_ray):
        configs.append(("median", "ray"))
    runs = []
    ray_start = None
    if any(backend == "ray" for _, backend in configs):  # started (or joined) once, timed apart
        from forwardkit.parallel_ray import connect

        tick = time.time()
        connect(args.address)
        ray_start = round(time.time() - tick, 2)
    with tempfile.TemporaryDirectory(prefix="sweep-time-") as tmp:
        # one untimed trial first: the imports (torch, the trainer, Optuna) are paid once per process
        one_sweep(Path(tmp) / "warm-up", experiment=SMOKE, space=SPACE[:1], trials=1, pruner="none")
        for pruner, backend in configs:
            runs.append(one_sweep(Path(tmp) / f"{pruner}-{backend}", experiment=experiment, space=space,
                                  trials=trials, pruner=pruner, backend=backend, address=args.address))
            print(f"{backend}/{pruner}: best trial {runs[-1]['best_trial']} ({runs[-1]['best_value']:.4f}) after "
                  f"{runs[-1]['seconds_to_best']:.1f} s of {runs[-1]['seconds_total']:.1f} s; "
                  f"{runs[-1]['pruned']} pruned", flush=True)
    result = {**machine_info(), "experiment": experiment, "space": space, "trials": trials,
              "threads_per_trial": 1, "cores": os.cpu_count(), "smoke": args.smoke,
              "ray_start_seconds": ray_start, "load_average": os.getloadavg(), "runs": runs}
    save_report(result, args.out)
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
