"""The Ray backend's overhead against local worker processes, on the same many-run jobs, in one process.

Two jobs, each run with ``backend="local"`` (a pool of spawned processes, one per core, started by the job
as `forwardkit reproduce` and the bake-off start theirs) and with ``backend="ray"`` (one Ray task per run on
a Ray instance with as many CPUs, started once for the whole measurement, or the cluster at ``--address``):

* ``reproduction``: a miniature reproduction of builtin components (blobs + mlp; 3 arms x 3 seeds);
* ``bakeoff``: a 2-entry bake-off (``identity`` and ``pooling`` in the builtin metaformer, on digits).

The two backends alternate round by round (``forwardkit.measure.interleaved_ms``); the result is the median
over rounds of ray / local wall time in the same round, and, apart, the seconds Ray takes to start a
local instance (paid once by every command that starts one). Every round also checks that both backends
give the same numbers.

    python benchmarks/ray_overhead.py            # full measurement (a few minutes)
    python benchmarks/ray_overhead.py --smoke    # seconds: proves the script runs
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# A local Ray instance of this script stays on the loopback address: with this 0, Ray takes 127.0.0.1 as the
# node's address instead of the outward interface's (read by Ray when it is imported).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info

from forwardkit.measure import interleaved_ms, median_ratios, medians, save_report
from forwardkit.parallel import cpu_cores

OUT = Path(__file__).resolve().parent / "results" / "ray_overhead.json"

SPEC: dict[str, Any] = {
    "paper": "Ray overhead benchmark", "arxiv": "0000.00000",
    "claim": "A wider hidden layer classifies blobs better.", "paper_result": "n/a",
    "base": {"data": {"name": "blobs", "n_samples": 600, "num_classes": 3, "noise": 2.0},
             "model": {"name": "mlp", "hidden": [16]},
             "learning_rule": {"name": "backprop", "lr": 0.01},
             "trainer": {"epochs": 1, "max_steps": 40, "batch_size": 32}},
    "arms": {"baseline": {}, "method": {"model": {"hidden": [32]}}, "wide": {"model": {"hidden": [64]}}},
    "pass_bar": "method above baseline",
    "conditions": [{"kind": "compare", "method": "method", "baseline": "baseline"}],
    "seeds": [0, 1, 2], "expected_minutes": 0.1,
}


def reproduction_job(backend: str, *, steps: int, address: str | None) -> dict[str, Any]:
    """Every (arm, seed) run of :data:`SPEC`; ``{arm: [final metrics per seed]}`` (without the throughput,
    which is a timing)."""
    from forwardkit.reproduce.runner import run_reproduction
    from forwardkit.reproduce.spec import parse_spec

    base = {**SPEC["base"], "trainer": {**SPEC["base"]["trainer"], "max_steps": steps}}
    spec = parse_spec({**SPEC, "base": base})
    results = run_reproduction(spec, slug="overhead", out_dir=None, workers=cpu_cores(), verbose=False,
                               backend=backend, address=address)
    return {arm: [{k: v for k, v in final.items() if not _timing(k)} for final in summary["final"]]
            for arm, summary in results["arms"].items()}


def _timing(metric: str) -> bool:
    return "per_s" in metric or "seconds" in metric


def bakeoff_job(backend: str, *, steps: int, address: str | None) -> list[dict[str, Any]]:
    """A 2-entry bake-off; its leaderboard without the timing columns."""
    from forwardkit.engine.bakeoff import BakeoffConfig, run_bakeoff

    cfg = BakeoffConfig(mixers=["identity", "pooling"], workers=cpu_cores(),
                        trainer={"epochs": 1, "max_steps": steps, "progress": "none", "log_every": 50})
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_bakeoff(cfg, out_dir=Path(tmp), verbose=False, backend=backend, address=address,
                           fresh=True)["leaderboard"]
    return [{k: v for k, v in row.items() if not _timing(k)} for row in rows]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40, help="training steps of every run")
    parser.add_argument("--address", default=None, help="a Ray cluster to use (default: start a local instance)")
    parser.add_argument("--smoke", action="store_true", help="one round of 3-step runs, no warm-up")
    parser.add_argument("--out", type=Path, default=None, help=f"where the JSON goes (default: {OUT}; with --smoke: "
                        "nowhere)")
    args = parser.parse_args(argv)
    rounds, steps, warmup = (1, 3, 0) if args.smoke else (args.rounds, args.steps, 1)
    import ray
    import torch

    from forwardkit.parallel_ray import connect, describe

    start = time.perf_counter()
    summary = connect(args.address)
    started_s = time.perf_counter() - start
    outputs: dict[str, list[Any]] = {}

    def timed(job: Any, backend: str, name: str) -> Any:
        def call() -> None:
            outputs.setdefault(name, []).append(job(backend, steps=steps, address=args.address))

        return call

    jobs = {"reproduction": reproduction_job, "bakeoff": bakeoff_job}
    result: dict[str, Any] = {"jobs": {}}
    for job_name, job in jobs.items():
        calls = {"local": timed(job, "local", f"{job_name}/local"), "ray": timed(job, "ray", f"{job_name}/ray")}
        times = interleaved_ms(calls, rounds=rounds, warmup=warmup)
        same = outputs[f"{job_name}/local"] == outputs[f"{job_name}/ray"]
        med = medians(times)
        result["jobs"][job_name] = {
            "local_ms": times["local"], "ray_ms": times["ray"], "local_median_s": med["local"] / 1e3,
            "ray_median_s": med["ray"] / 1e3, "ratio": median_ratios(times, "local")["ray"],
            "ratio_with_ray_start": (med["ray"] / 1e3 + started_s) / (med["local"] / 1e3),
            "same_numbers": same,
        }
        print(f"{job_name}: local {med['local'] / 1e3:.2f} s, ray {med['ray'] / 1e3:.2f} s (median of {rounds}); "
              f"ray / local {result['jobs'][job_name]['ratio']:.3f}; same numbers: {same}", flush=True)
    result.update({
        "rounds": rounds, "warmup": warmup, "steps": steps, "smoke": args.smoke, "cores": cpu_cores(),
        "ray": ray.__version__, "cluster": describe(summary) if args.address else f"local Ray instance, "
        f"{summary['cpus']:g} CPUs", "ray_start_s": started_s if not args.address else None,
        "torch_threads": torch.get_num_threads(), **machine_info(),
    })
    result["ratios"] = {name: job["ratio"] for name, job in result["jobs"].items()}
    print(f"Ray {'joined' if args.address else 'started'} in {started_s:.1f} s")
    out = args.out if args.out is not None else (None if args.smoke else OUT)
    if out is not None:
        print(f"wrote {save_report(result, out)}")
    return result

if __name__ == "__main__":
    main()
