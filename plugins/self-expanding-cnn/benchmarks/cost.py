"""Cost benchmark (card "Performance notes"): the overhead of growth by the natural expansion score.

One process, ``--threads`` torch threads (default 1, as each worker of the reproduction), the reproduction's
setup (mnist5k 3500 train samples, batch 128, Adam, a 512-sample scoring subset, tau 2, cooldown 3):

* **per check** (interleaved rounds, ``forwardkit.measure.interleaved_ms`` / ``median_ratios``): the time of one
  growth check (the score of the current model and of each of its 1 + 2B candidates, each a deep copy with the
  expansion applied: about (1 + 2B) x subset_size per-sample gradients) and of one growth step (the chosen
  expansion applied to the live model) as ratios of one training epoch's time, for the starting model
  (channels [1, 4, 4, 4]) and a grown one (an identity layer in and 2 more channels for every block);
* **per run**: the wall time of a whole grown run (30 epochs, growth by the score) over training its final
  architecture from scratch for the same 30 epochs (the card's benchmark: what growing costs against training
  the size it ends at, which one would have to know in advance), and the share of the grown run spent in
  checks and growth steps (the callback's own timings).

    python plugins/self-expanding-cnn/benchmarks/cost.py [--smoke] [--out PATH] [--threads N] [--rounds R]

Writes plugins/self-expanding-cnn/reports/cost.json (``--smoke``: digits, a few steps, 1 round, no file unless
``--out``).
"""

from __future__ import annotations

import argparse
import copy
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from forwardkit_self_expanding_cnn.expansion import SelfExpansion
from forwardkit_self_expanding_cnn.model import ExpandableCNN
from forwardkit_self_expanding_cnn.reproduction import BASE, GROWTH

import forwardkit
from forwardkit.interfaces import RunContext
from forwardkit.measure import interleaved_ms, median_ratios, medians, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"


def _experiment(smoke: bool, *, growth: bool, model: dict[str, Any] | None = None) -> dict[str, Any]:
    exp = copy.deepcopy(BASE)
    if smoke:
        exp["data"] = {"name": "digits", "val_fraction": 0.15, "test_fraction": 0.15, "seed": 0}
        exp["trainer"] = {**exp["trainer"], "epochs": 2, "batch_size": 32, "max_steps": 4}
    if model:
        exp["model"] = {**exp["model"], **model}
    exp["callbacks"] = [dict(GROWTH, subset_size=32 if smoke else GROWTH["subset_size"])] if growth else []
    exp["seed"], exp["name"] = 0, "cost"
    return exp


def per_check(smoke: bool, rounds: int) -> list[dict[str, Any]]:
    """Interleaved times of a training epoch, a growth check and a growth step, for two model sizes."""
    exp = _experiment(smoke, growth=False)
    data = forwardkit.create("dataset", exp["data"]["name"], **{k: v for k, v in exp["data"].items() if k != "name"})
    train = data.split("train")
    batch_size = exp["trainer"]["batch_size"]
    batches = [{"x": train.x[i:i + batch_size], "y": train.y[i:i + batch_size]}  # type: ignore[attr-defined]
               for i in range(0, len(train), batch_size)][:4 if smoke else None]
    meta = data.metadata
    subset_size = 32 if smoke else GROWTH["subset_size"]
    subset = {k: torch.cat([b[k] for b in batches])[:subset_size] for k in ("x", "y")}
    rows = []
    for label in ("initial", "grown"):
        torch.manual_seed(0)
        model = ExpandableCNN(channels=exp["model"]["channels"], head_channels=exp["model"]["head_channels"],
                              input_size=list(meta.input_shape[:2]), num_classes=meta.num_classes)
        if label == "grown":
            gen = torch.Generator().manual_seed(0)
            for b in range(model.num_blocks):
                model.add_identity_layer(b, generator=gen)
                model.widen_block(b, 2, generator=gen)
        timed = _time_model(model, batches, subset, rounds=rounds, warmup=0 if smoke else 1)
        epoch_samples = sum(len(b["y"]) for b in batches)
        rows.append({"model": label, **timed, "steps_per_epoch": len(batches), "subset_size": subset_size,
                     "epoch_samples": epoch_samples,
                     # the card's count: (1 + 2B) models x (Fisher pass + gradient pass) x subset, forward/backward
                     # samples; here one per-sample pass gives both g and diag(F): (1 + candidates) x subset
                     "card_check_samples": (1 + 2 * model.num_blocks) * 2 * subset_size,
                     "check_samples": (1 + timed["candidates"]) * subset_size,
                     "card_check_over_epoch_samples": (1 + 2 * model.num_blocks) * 2 * subset_size / epoch_samples})
        print(f"{label}: epoch {rows[-1]['median_ms']['epoch']:.0f} ms, check {rows[-1]['median_ms']['check']:.0f} ms "
              f"(x{rows[-1]['check_over_epoch']:.2f}), grow {rows[-1]['median_ms']['grow']:.1f} ms", flush=True)
    return rows


def _time_model(model: ExpandableCNN, batches: list[dict[str, torch.Tensor]], subset: dict[str, torch.Tensor], *,
                rounds: int, warmup: int) -> dict[str, Any]:
    """One training epoch and one growth check of ``model``, interleaved; then growth steps on copies."""
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    cb = SelfExpansion(**{k: v for k, v in GROWTH.items() if k not in ("name", "subset_size")},
                       subset_size=len(subset["y"]))
    cb.subset = dict(subset)
    ctx = RunContext(model=model)
    found: dict[str, Any] = {}

    def epoch() -> None:
        model.train()
        for batch in batches:
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(batch["x"]), batch["y"]).backward()
            opt.step()

    def check() -> None:
        found["choice"], found["record"] = cb.score_candidates(model, ctx, 0)

    calls: dict[str, Callable[[], None]] = {"epoch": epoch, "check": check}
    times = interleaved_ms(calls, rounds=rounds, warmup=warmup)
    grow_s = []
    for _ in range(rounds):  # on copies: the live model must not grow between rounds
        twin = copy.deepcopy(model)
        start = time.perf_counter()
        cb.grow(twin, found["choice"] or ("layer", 0, 0), 0)
        grow_s.append(time.perf_counter() - start)
    med = medians(times)
    grow_ms = 1000 * sorted(grow_s)[len(grow_s) // 2]
    return {"architecture": model.architecture(), "params": model.num_params(),
            "candidates": len(found["record"]["candidates"]), "median_ms": {**med, "grow": grow_ms},
            "check_over_epoch": median_ratios(times, "epoch")["check"], "grow_over_epoch": grow_ms / med["epoch"]}


def per_run(smoke: bool, rounds: int) -> dict[str, Any]:
    """Wall time of a whole grown run over training its final architecture from scratch, interleaved."""
    from forwardkit import Trainer

    first = Trainer(_experiment(smoke, growth=True), write=False, verbose=False)
    first.fit()
    grown_model: Any = first.model
    first_growth: Any = first.callbacks[0]
    arch = grown_model.architecture()
    fixed = _experiment(smoke, growth=False, model={"channels": arch["channels"], "layers": arch["layers"]})
    seen: dict[str, list[float]] = {"check_s": [], "train_s": []}

    def grown() -> None:
        trainer = Trainer(_experiment(smoke, growth=True), write=False, verbose=False)
        start = time.perf_counter()
        trainer.fit()
        cb: Any = trainer.callbacks[0]
        seen["check_s"].append(sum(t["score_s"] + t["grow_s"] for t in cb.timings))
        seen["train_s"].append(time.perf_counter() - start)

    def from_scratch() -> None:
        Trainer(fixed, write=False, verbose=False).fit()

    times = interleaved_ms({"grown": grown, "fixed_final": from_scratch}, rounds=rounds, warmup=0)
    shares = [c / t for c, t in zip(seen["check_s"], seen["train_s"], strict=True)]
    out = {"final_architecture": arch, "expansions": len(first_growth.log),
           "params_final": int(grown_model.num_params()), "median_ms": medians(times),
           "grown_over_fixed_final": median_ratios(times, "fixed_final")["grown"],
           "check_share_of_grown_run": sorted(shares)[len(shares) // 2],
           "epochs": _experiment(smoke, growth=False)["trainer"]["epochs"]}
    ms = out["median_ms"]
    print(f"grown run {ms['grown'] / 1000:.1f} s, fixed final {ms['fixed_final'] / 1000:.1f} s "
          f"(x{out['grown_over_fixed_final']:.2f}); checks {100 * out['check_share_of_grown_run']:.0f}% of the run",
          flush=True)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="digits, a few steps, 1 round (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=None, help="rounds per check (default 5; runs: 2)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    check_rounds = args.rounds or (1 if args.smoke else 5)
    run_rounds = 1 if args.smoke else min(args.rounds or 2, 2)
    result = {"threads": args.threads, "torch": torch.__version__, "machine": platform.machine(), "smoke": args.smoke,
              "per_check": per_check(args.smoke, check_rounds), "per_run": per_run(args.smoke, run_rounds),
              "rounds": {"per_check": check_rounds, "per_run": run_rounds},
              "note": "per_check: medians over interleaved rounds; check_over_epoch is the per-round median of one "
                      "growth check's time over one training epoch's (the score of the model and of each candidate "
                      "copy on the subset, the decision); grow_over_epoch one growth step (the expansion applied) "
                      "over the median epoch. per_run: wall time of a whole 30-epoch grown run over training its "
                      "final architecture from scratch, and the share of the grown run its checks took."}
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    return result


if __name__ == "__main__":
    main()
