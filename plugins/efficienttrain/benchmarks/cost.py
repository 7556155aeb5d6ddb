"""Cost benchmark (card "Performance notes"): the wall-clock speed-up of EfficientTrain's curriculum over the plain
recipe, and where it comes from, all measured in one process.

1. ``runs`` — the reproduction's two main arms trained in full, alternating in one process: ``efficienttrain`` (the
   v1 curriculum) and ``baseline_full`` (the plain recipe, B = 28 and m = 9 throughout), one pair per seed (the order
   flips every seed). Reported: each run's wall seconds, the trainer's timed training seconds (steps only, no
   evaluation), test accuracy and the ledger's compute; the speed-up is the per-seed ratio (plain / ET), median
   over seeds, and whether the accuracies meet the card's bar |acc(ET) - acc(a)| <= max(0.5 points, 2 x pooled std).
2. ``steps`` — one training step (forward, backward, AdamW update) of the reference CNN on a batch of 128 at
   B = 20, 24, 28, and the curriculum's step at B = 20 including the crop from 28 (``fft``: the paper's crop;
   ``dft_matmul``: the fast path), timed in interleaved rounds (``forwardkit.measure.interleaved_ms``); ratios are
   per-round medians over the 28 x 28 step. The crop, the Lanczos resize and the augmentation are also timed alone.
   Beside them: the theoretical (B/H)^2 and the measured MACs ratio of one forward (``count_macs``), and the run time
   the per-step medians predict for the v1 schedule against the 1.53x of the FLOPs.

    python plugins/efficienttrain/benchmarks/cost.py [--smoke] [--out PATH] [--threads N] [--seeds 0 1 2]

Writes plugins/efficienttrain/reports/cost.json (``--smoke``: a tiny model, 3-step runs, no file unless ``--out``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from forwardkit_efficienttrain.augment import magnitude_augment
from forwardkit_efficienttrain.crop import lanczos_resize, low_freq_crop
from forwardkit_efficienttrain.reproduction import LEDGER, METRIC, SPEC

import forwardkit
from forwardkit.measure import count_macs, interleaved_ms, median_ratios, medians, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
BASELINE = "step_28"
SIDES = (20, 24, 28)
FULL_MODEL: dict[str, Any] = {"name": "efficienttrain_cnn"}
SMOKE_MODEL: dict[str, Any] = {"name": "efficienttrain_cnn", "widths": [4, 4, 8, 8, 8]}
#: the v1 schedule at 28: steps per stage of the 10-epoch run (32 steps per epoch, 2 epochs per stage)
V1_STEPS = {20: 3 * 64, 24: 64, 28: 64}


def step_candidates(model_spec: dict[str, Any], batch: int) -> tuple[dict[str, Callable[[], Any]], dict[str, Any]]:
    """One training step per candidate (each with its own copy of the model and optimizer), and static figures."""
    g = torch.Generator().manual_seed(0)
    x28 = torch.rand(batch, 28, 28, 1, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g)
    inputs = {s: low_freq_crop(x28, s) if s < 28 else x28 for s in SIDES}

    def trainer(x_of: Callable[[], torch.Tensor]) -> Callable[[], None]:
        torch.manual_seed(0)
        net = forwardkit.build_model(model_spec)
        opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=0.05)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(net(x_of()), y).backward()
            opt.step()

        return step

    calls: dict[str, Callable[[], Any]] = {f"step_{s}": trainer(lambda s=s: inputs[s]) for s in SIDES}
    calls["crop_fft_then_step_20"] = trainer(lambda: low_freq_crop(x28, 20, backend="fft"))
    calls["crop_matmul_then_step_20"] = trainer(lambda: low_freq_crop(x28, 20, backend="dft_matmul"))
    gen = torch.Generator().manual_seed(1)
    calls["crop_fft_20"] = lambda: low_freq_crop(x28, 20, backend="fft")
    calls["crop_matmul_20"] = lambda: low_freq_crop(x28, 20, backend="dft_matmul")
    calls["lanczos_20"] = lambda: lanczos_resize(x28, 20)
    calls["augment_m9"] = lambda: magnitude_augment(x28, 9.0, generator=gen)
    net = forwardkit.build_model(model_spec).eval()
    macs = {s: count_macs(lambda s=s: net(inputs[s][:1])) for s in SIDES}
    figures = {"forward_macs_per_image": {str(s): m for s, m in macs.items()},
               "macs_ratio_over_28": {str(s): macs[s] / macs[28] for s in SIDES},
               "pixel_ratio_over_28": {str(s): (s / 28) ** 2 for s in SIDES}}
    return calls, figures


def _train(arm: str, seed: int, smoke: bool) -> dict[str, float]:
    exp = SPEC.experiment(arm, seed, smoke=smoke, name="cost")
    start = time.perf_counter()
    result = forwardkit.Trainer(exp, write=False, verbose=False).fit()
    wall = time.perf_counter() - start
    final = result.final
    samples = float(final["train/samples"])
    return {"wall_s": wall, "train_s": samples / max(float(final["train/samples_per_s"]), 1e-9),
            "accuracy": float(final[METRIC]), "relative_flops": float(final[f"{LEDGER}/relative_flops"]),
            "full_res_equivalent_samples": float(final[f"{LEDGER}/full_res_equivalent_samples"]),
            "steps": float(result.steps)}


def paired_runs(seeds: list[int], smoke: bool) -> dict[str, Any]:
    """The ET and plain runs, alternating (order flipped every seed), with speed-ups and the accuracy bar."""
    runs: dict[str, list[dict[str, float]]] = {"efficienttrain": [], "baseline_full": []}
    for i, seed in enumerate(seeds):
        order = ("baseline_full", "efficienttrain") if i % 2 == 0 else ("efficienttrain", "baseline_full")
        for arm in order:
            runs[arm].append({"seed": float(seed), **_train(arm, seed, smoke)})
    et, plain = runs["efficienttrain"], runs["baseline_full"]
    speed = {key: [p[key] / e[key] for p, e in zip(plain, et, strict=True)] for key in ("wall_s", "train_s")}
    acc_et, acc_a = [r["accuracy"] for r in et], [r["accuracy"] for r in plain]
    diff = statistics.mean(acc_et) - statistics.mean(acc_a)
    pooled = (((statistics.variance(acc_et) + statistics.variance(acc_a)) / 2) ** 0.5) if len(seeds) > 1 else 0.0
    bar = max(0.005, 2 * pooled)
    return {
        "runs": runs,
        "wallclock_speedup": {"median": statistics.median(speed["wall_s"]), "per_seed": speed["wall_s"],
                              "total": sum(p["wall_s"] for p in plain) / sum(e["wall_s"] for e in et)},
        "train_time_speedup": {"median": statistics.median(speed["train_s"]), "per_seed": speed["train_s"]},
        "flops_speedup_from_ledgers": statistics.median(
            p["full_res_equivalent_samples"] / e["full_res_equivalent_samples"] for p, e in zip(plain, et,
                                                                                                strict=True)),
        "accuracy": {"efficienttrain_mean": statistics.mean(acc_et), "baseline_full_mean": statistics.mean(acc_a),
                     "difference": diff, "pooled_std": pooled, "bar": bar, "within_bar": abs(diff) <= bar},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="a tiny CNN, 2 rounds, 3-step runs of one seed (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the reproduction's: 2 cores, 1 worker)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds of the paired runs (default 0 1 2)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = SMOKE_MODEL if args.smoke else FULL_MODEL
    batch = 8 if args.smoke else args.batch
    rounds = args.rounds or (2 if args.smoke else 30)
    warmup = 0 if args.smoke else 3
    seeds = args.seeds or ([0] if args.smoke else [0, 1, 2])
    calls, figures = step_candidates(model, batch)
    times = interleaved_ms(calls, rounds=rounds, warmup=warmup)
    med = medians(times)
    ratios = median_ratios(times, BASELINE)
    predicted = sum(n * med[f"step_{s}"] for s, n in V1_STEPS.items())
    at_full = sum(V1_STEPS.values()) * med[BASELINE]
    with_crop = (V1_STEPS[20] * med["crop_fft_then_step_20"] + V1_STEPS[24] * med["step_24"]
                 + V1_STEPS[28] * med[BASELINE])
    steps = {"batch": batch, "rounds": rounds, "warmup": warmup, "median_ms": med,
             "time_ratio_over_step_28": ratios, **figures,
             "v1_schedule_predicted_speedup": at_full / predicted,
             "v1_schedule_predicted_speedup_with_fft_crop": at_full / with_crop,
             "v1_schedule_flops_speedup": 1.0 / sum(n * (s / 28) ** 2 for s, n in V1_STEPS.items())
             * sum(V1_STEPS.values())}
    runs = paired_runs(seeds, args.smoke)
    result: dict[str, Any] = {
        "smoke": args.smoke, "threads": args.threads, "torch": torch.__version__, "machine": platform.machine(),
        "model": model, "seeds": seeds, "runs": runs, "steps": steps,
        "note": "runs: the reproduction's efficienttrain and baseline_full experiments trained in full in this "
                "process, alternating; speed-ups are plain / ET per seed (above 1: ET faster), wall_s includes "
                "building, the final test and the analyzer, train_s only the timed training steps. steps: one "
                "training step of batch 128 per call, per-round medians; ratios over the 28 x 28 step (below 1: "
                "faster)",
    }
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    print(json.dumps({"wallclock_speedup": runs["wallclock_speedup"], "accuracy": runs["accuracy"],
                      "step_ratio": ratios}, indent=1))
    return result


if __name__ == "__main__":
    main()
