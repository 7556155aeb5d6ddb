"""``trainer.compile``: the training step time with and without torch.compile, through forwardkit's trainer.

Two models: the default bake-off model (the builtin metaformer of ``forwardkit run``: depths 1,1,2,1, dims
16-64, attention with head_dim 16, on scikit-learn's 8x8 digits, batch 64) and the MetaFormer-baseline
preset ``convformer`` at size s18 (224 px images of the builtin ``blobs`` generator, batch 8). Each is
trained by the trainer for ``warmup + steps`` steps, eagerly and with ``trainer.compile: true``, alternating
for ``--rounds`` rounds in one process. A step's time runs from the callbacks' ``on_batch_start`` to their
``on_step_end`` (forward, loss, backward, optimizer step). Reported: the steady-state step time (median of
the steps after the first ``warmup``, which hold the compilations and their recompilations), the speed-up
(eager / compiled), and the compile time (the first ``warmup`` compiled steps minus as many steady-state
steps). Inductor's caches are redirected to a fresh folder, so the first round compiles from scratch.

    python benchmarks/compile_speedup.py                 # writes benchmarks/results/compile_speedup.json
    python benchmarks/compile_speedup.py --smoke --out /tmp/c.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="fk-inductor-"))

import torch

from forwardkit.engine.bakeoff import BakeoffConfig
from forwardkit.engine.trainer import Trainer
from forwardkit.interfaces import Callback

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, write_result

RESULTS = Path(__file__).resolve().parent / "results" / "compile_speedup.json"


def cases(smoke: bool) -> dict[str, dict[str, Any]]:
    bake = BakeoffConfig()
    bakeoff = {
        "name": "bakeoff-attention",
        "data": dict(bake.data),
        "model": {**bake.model, "token_mixers": [{"name": "attention", **bake.mixer_configs.get("attention", {})}]},
        "learning_rule": dict(bake.learning_rule),
        "trainer": {"batch_size": bake.trainer.batch_size},
        "seed": 0,
    }
    size, side, batch = ("tiny", 28, 4) if smoke else ("s18", 224, 8)
    convformer = {
        "name": f"convformer-{size}",
        "data": {"name": "blobs", "image_size": side, "image_channels": 3, "num_classes": 10,
                 "n_samples": 60 if smoke else 120},
        "model": {"name": "convformer", "size": size},
        "learning_rule": {"name": "backprop", "optimizer": "adamw", "lr": 1e-3},
        "trainer": {"batch_size": batch},
        "seed": 0,
    }
    return {"bakeoff": bakeoff, f"convformer_{size}": convformer}


class StepTimer(Callback):
    """Seconds of every training step (batch start to step end)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []
        self._start = 0.0

    def on_batch_start(self, batch: dict[str, torch.Tensor], ctx: Any) -> dict[str, torch.Tensor]:
        self._start = time.perf_counter()
        return batch

    def on_step_end(self, metrics: Mapping[str, float], ctx: Any) -> None:
        self.times.append(time.perf_counter() - self._start)


def train(experiment: dict[str, Any], *, compiled: bool, steps: int) -> list[float]:
    exp = json.loads(json.dumps(experiment))
    exp["trainer"].update(max_steps=steps, compile=compiled, progress="none", plots=False, eval_every=0,
                          test_at_end=False, checkpoint_every=0, log_every=1000)
    trainer = Trainer(exp, write=False, verbose=False)
    trainer.build()
    timer = StepTimer()
    trainer.callbacks.append(timer)
    trainer.callback_names.append("step_timer")
    trainer.fit()
    return timer.times


def measure(name: str, experiment: dict[str, Any], *, warmup: int, steps: int, rounds: int) -> dict[str, Any]:
    runs: dict[str, list[list[float]]] = {"eager": [], "compiled": []}
    for r in range(rounds):
        for mode in ("eager", "compiled") if r % 2 == 0 else ("compiled", "eager"):
            times = train(experiment, compiled=mode == "compiled", steps=warmup + steps)
            runs[mode].append(times)
            print(f"  {name} round {r + 1} {mode:8s}: first {times[0]:.2f} s, steady "
                  f"{statistics.median(times[warmup:]) * 1e3:.1f} ms/step", flush=True)
    steady = {m: statistics.median([t for times in v for t in times[warmup:]]) for m, v in runs.items()}
    compile_s = [sum(times[:warmup]) - warmup * steady["compiled"] for times in runs["compiled"]]
    eager_first = [sum(times[:warmup]) - warmup * steady["eager"] for times in runs["eager"]]
    return {
        "model": experiment["model"],
        "data": experiment["data"],
        "batch_size": experiment["trainer"]["batch_size"],
        "warmup_steps": warmup,
        "timed_steps": steps,
        "rounds": rounds,
        "eager_step_ms": round(steady["eager"] * 1e3, 3),
        "compiled_step_ms": round(steady["compiled"] * 1e3, 3),
        "speedup": round(steady["eager"] / steady["compiled"], 4),
        "compile_s": round(compile_s[0], 2),
        "compile_s_per_round": [round(c, 2) for c in compile_s],
        "eager_warmup_overhead_s": [round(c, 3) for c in eager_first],
        "step_s": {m: [[round(t, 5) for t in times] for times in v] for m, v in runs.items()},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny models, a few steps, one round")
    parser.add_argument("--only", choices=["bakeoff", "convformer"], default=None)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help=f"JSON output (default {RESULTS}; none with --smoke)")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    for name, experiment in cases(args.smoke).items():
        if args.only and not name.startswith(args.only):
            continue
        if args.smoke:
            warmup, steps, rounds = 2, 2, 1
        elif name == "bakeoff":
            warmup, steps, rounds = 5, 60, args.rounds
        else:
            warmup, steps, rounds = 4, 8, args.rounds
        results[name] = measure(name, experiment, warmup=warmup, steps=steps, rounds=rounds)
    result = {
        "what": "training step time through forwardkit's trainer, eager and with trainer.compile (torch.compile, "
                "default mode); steady state = median step after the warm-up steps; compile time = the warm-up "
                "steps' extra seconds",
        "models": results,
        "threads": torch.get_num_threads(),
        **machine_info(),
    }
    out = args.out if args.out is not None else (None if args.smoke else RESULTS)
    write_result(out, result)
    return result


if __name__ == "__main__":
    main()
