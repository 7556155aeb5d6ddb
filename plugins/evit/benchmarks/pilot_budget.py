"""Pilot of the reproduction's epoch budget: the baseline ViT alone, trained at several budgets.

The card's 12 epochs left the ViT undertrained (78% on MNIST in an earlier run), too weak a model to test
whether its class attention picks the informative tokens. This script trains only the reproduction's ``vit``
arm (:func:`forwardkit_evit.reproduction.base_experiment`, the full recipe with a cosine schedule that ends at
each budget) for every ``--epochs`` budget and ``--seeds`` seed, and records its final test accuracy. No EViT
arm is trained here. The chosen budget is the smallest one after which the next larger budget gains less than
``--plateau`` (0.005 = 0.5 pt) of mean test accuracy; every arm of the reproduction then uses it.

    flock /tmp/fk-fullrun.lock python plugins/evit/benchmarks/pilot_budget.py --epochs 12 24 --seeds 0 1

Results are merged into ``reports/pilot_budget.json`` (runs of earlier invocations are kept).
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any

from forwardkit_evit.reproduction import base_experiment

from forwardkit.parallel import plan_workers, run_parallel
from forwardkit.reproduce.runner import run_one

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "reports" / "pilot_budget.json"


def experiment(epochs: int, seed: int) -> dict[str, Any]:
    """The reproduction's ``vit`` arm at ``epochs`` epochs and ``seed``."""
    exp = base_experiment(epochs)
    exp["trainer"].update({"progress": "none", "plots": False})
    exp.update({"seed": seed, "name": f"evit-pilot-e{epochs}-s{seed}"})
    return exp


def summarize(runs: list[dict[str, Any]], plateau: float) -> dict[str, Any]:
    """Mean accuracy per budget, the gain to the next larger budget, and the chosen (plateau) budget."""
    budgets = sorted({r["epochs"] for r in runs})
    rows = []
    for e in budgets:
        accs = [r["test_accuracy"] for r in runs if r["epochs"] == e]
        secs = [r["seconds_per_epoch"] for r in runs if r["epochs"] == e]
        rows.append({"epochs": e, "seeds": [r["seed"] for r in runs if r["epochs"] == e], "mean": statistics.mean(accs),
                     "values": accs, "seconds_per_epoch": statistics.mean(secs)})
    for row, nxt in pairwise(rows):
        row["gain_to_next"] = nxt["mean"] - row["mean"]
    chosen = next((r["epochs"] for r in rows if "gain_to_next" in r and r["gain_to_next"] < plateau), None)
    return {"plateau": plateau, "budgets": {str(r["epochs"]): r for r in rows}, "chosen_epochs": chosen}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--plateau", type=float, default=0.005)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    old = json.loads(args.out.read_text()) if args.out.exists() else {"runs": []}
    jobs = [(e, s) for e in args.epochs for s in args.seeds]
    jobs.sort(key=lambda j: -j[0])  # longest first: the two workers finish together
    workers, threads = plan_workers(len(jobs), args.workers)
    calls = [(experiment(e, s), threads) for e, s in jobs]

    def done(i: int, res: dict[str, Any]) -> None:
        e, s = jobs[i]
        print(f"epochs {e} seed {s}: test/accuracy {res['final']['test/accuracy']:.4f} ({res['seconds']:.0f}s)",
              flush=True)

    results = run_parallel(run_one, calls, workers=workers, on_done=done)
    new = [{"epochs": e, "seed": s, "test_accuracy": r["final"]["test/accuracy"], "seconds": r["seconds"],
            "seconds_per_epoch": r["seconds"] / e, "threads": threads, "date": date.today().isoformat()}
           for (e, s), r in zip(jobs, results, strict=True)]
    keep = [r for r in old["runs"] if (r["epochs"], r["seed"]) not in set(jobs)]
    runs = sorted(keep + new, key=lambda r: (r["epochs"], r["seed"]))
    out = {"what": "baseline ViT (the reproduction's vit arm) only: final test accuracy per epoch budget",
           "recipe": base_experiment(0) | {"trainer": {**base_experiment(0)["trainer"], "epochs": "varied"}},
           "runs": runs, **summarize(runs, args.plateau)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: out[k] for k in ("budgets", "chosen_epochs")}, indent=1))
    return out


if __name__ == "__main__":
    main()
