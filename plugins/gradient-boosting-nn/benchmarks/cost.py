"""Cost benchmark (card "Performance notes"): GB-NN's training time against one joint fit, the merged network's
inference against a plain MLP of the same width, and the anytime truncation's accuracy/latency curve.

One process, scikit-learn's digits (the ``tabular`` split of seed 0: 1151 train rows, 64 standardised
features, 10 classes):

* **training time vs hidden units** (the official ``examples/training_time.py`` comparison): GB-NN with
  ``J = 1`` (eta 0.1, subsample 0.5, torch L-BFGS 100 iterations per stage) boosted to 200 stages, timed
  stage by stage -- the time to train a GB-NN of ``H`` units is the time of its first ``H`` stages -- against
  scikit-learn's ``MLPClassifier`` with Adam (its defaults: 200 epochs at most, tol 1e-4) of ``H`` units and
  of three hidden layers of ``H`` units, for ``H`` in 25, 50, 100, 200. ``rounds`` repeats, medians, and the
  per-round ratios over the one-layer Adam MLP (``median_ratios``);
* **inference**: the merged ``boosted_mlp`` (200 units) against a plain ``Linear -> Sigmoid -> Linear`` with
  the same weights and against the staged ensemble (the 200 stage regressors summed one by one, what the
  official code predicts with before ``to_NN``), forward latency at batch 1 and 1024, interleaved rounds;
* **truncation**: the first ``k`` % of the stages (k in 10, 25, 50, 75, 100) as smaller networks
  (``stage_truncation``'s ``truncate``): test accuracy, parameters, MACs and forward latency (batch 1 and 1024),
  each as a ratio over the full model.

    python plugins/gradient-boosting-nn/benchmarks/cost.py [--smoke] [--out PATH] [--threads N] [--rounds R]

Writes plugins/gradient-boosting-nn/reports/cost.json (``--smoke``: tiny sizes, no file unless ``--out``).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from forwardkit_gradient_boosting_nn.model import BoostedMLP, StagedEnsemble
from forwardkit_gradient_boosting_nn.rule import GradientBoostedHead
from forwardkit_gradient_boosting_nn.truncation import truncate
from torch import nn

import forwardkit
from forwardkit.interfaces import RunContext
from forwardkit.measure import count_macs, count_parameters, interleaved_ms, median_ratios, medians, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
KEEP = (10, 25, 50, 75, 100)


def digits(seed: int = 0) -> tuple[Any, Any]:
    ds = forwardkit.create("dataset", "tabular", source="digits", val_fraction=0.16, test_fraction=0.2, seed=seed)
    return ds.split("train"), ds.split("test")


def boost_timed(x: torch.Tensor, y: torch.Tensor, *, stages: int, max_iter: int, seed: int
                ) -> tuple[BoostedMLP, StagedEnsemble, list[float]]:
    """GB-NN (J = 1) boosted stage by stage; the cumulative seconds after every stage."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BoostedMLP(in_features=x.shape[1], num_classes=int(y.max()) + 1, stages=stages, units_per_stage=1)
    rule = GradientBoostedHead(eta=0.1, subsample=0.5, stage_max_iter=max_iter, seed=seed)
    ctx = RunContext(model=model)
    rule.setup(model, ctx)
    batch, cumulative = {"x": x, "y": y}, []
    start = time.perf_counter()
    for _ in range(stages):
        rule.step(batch, ctx)
        cumulative.append(time.perf_counter() - start)
    return model, rule.ensemble(), cumulative


def sklearn_seconds(x: Any, y: Any, layers: tuple[int, ...], *, max_iter: int, seed: int) -> float:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    net = MLPClassifier(hidden_layer_sizes=layers, activation="logistic", solver="adam", max_iter=max_iter,
                        random_state=seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        net.fit(x, y)
    return time.perf_counter() - start


def training(train: Any, *, widths: list[int], rounds: int, max_iter: int, sk_iter: int
             ) -> tuple[dict[str, Any], BoostedMLP, StagedEnsemble]:
    x, y = train.x.double().numpy(), train.y.numpy()
    times: dict[str, list[float]] = {f"{name}_{h}": [] for name in ("gbnn", "mlp_adam", "mlp3_adam") for h in widths}
    kept: tuple[BoostedMLP, StagedEnsemble] | None = None
    for r in range(rounds):
        model, ensemble, cumulative = boost_timed(train.x, train.y, stages=max(widths), max_iter=max_iter, seed=r)
        kept = kept or (model, ensemble)
        for h in widths:
            times[f"gbnn_{h}"].append(cumulative[h - 1])
            times[f"mlp_adam_{h}"].append(sklearn_seconds(x, y, (h,), max_iter=sk_iter, seed=r))
            times[f"mlp3_adam_{h}"].append(sklearn_seconds(x, y, (h, h, h), max_iter=sk_iter, seed=r))
        print(f"round {r}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()), flush=True)
    assert kept is not None
    out: dict[str, Any] = {"widths": widths, "median_s": medians(times), "ratio_over_mlp_adam": {}}
    for h in widths:
        per = {"gbnn": times[f"gbnn_{h}"], "mlp3_adam": times[f"mlp3_adam_{h}"], "mlp_adam": times[f"mlp_adam_{h}"]}
        out["ratio_over_mlp_adam"][f"h{h}"] = median_ratios(per, "mlp_adam")
    return out, kept[0], kept[1]


def plain_mlp(model: BoostedMLP) -> nn.Module:
    """``Linear -> Sigmoid -> Linear`` with the merged network's weights (a standard MLP of the same width)."""
    net = nn.Sequential(nn.Linear(model.hidden.in_features, model.hidden.out_features), nn.Sigmoid(),
                        nn.Linear(model.out.in_features, model.out.out_features))
    net.load_state_dict({"0.weight": model.hidden.weight, "0.bias": model.hidden.bias,
                         "2.weight": model.out.weight, "2.bias": model.out.bias})
    return net.eval()


def _call(module: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def call() -> None:
        with torch.no_grad():
            module(x)
    return call


def batch_of(x: torch.Tensor, size: int) -> torch.Tensor:
    reps = -(-size // x.shape[0])
    return x.repeat(reps, 1)[:size].contiguous()


def inference(model: BoostedMLP, ensemble: StagedEnsemble, test: Any, *, batches: list[int], rounds: int,
              warmup: int) -> dict[str, Any]:
    plain = plain_mlp(model)
    model.eval()
    with torch.no_grad():
        gap = float((plain(test.x) - model(test.x)).abs().max())
    out: dict[str, Any] = {"max_abs_diff_plain_vs_merged": gap}
    for b in batches:
        x = batch_of(test.x, b)
        times = interleaved_ms({"plain_mlp": _call(plain, x), "boosted_mlp": _call(model, x),
                                "staged_ensemble": _call(ensemble, x)}, rounds=rounds, warmup=warmup)
        out[f"batch_{b}"] = {"median_ms": medians(times), "ratio_over_plain_mlp": median_ratios(times, "plain_mlp")}
    return out


def truncation(model: BoostedMLP, test: Any, *, batches: list[int], rounds: int, warmup: int) -> dict[str, Any]:
    total = model.num_stages
    models = {k: truncate(model, max(1, round(k / 100 * total))).eval() for k in KEEP}
    with torch.no_grad():
        acc = {k: float((m(test.x).argmax(1) == test.y).float().mean()) for k, m in models.items()}
    x1 = test.x[:1]
    macs = {k: count_macs(_call(m, x1)) for k, m in models.items()}
    params = {k: count_parameters(m) for k, m in models.items()}
    rows: dict[str, Any] = {}
    for k, m in models.items():
        rows[f"k{k}"] = {"percent": k, "stages": m.num_stages, "units": m.hidden.out_features, "accuracy": acc[k],
                         "accuracy_ratio": acc[k] / acc[100], "accuracy_drop": acc[100] - acc[k],
                         "params_ratio": params[k] / params[100], "macs_ratio": macs[k] / macs[100]}
    for b in batches:
        x = batch_of(test.x, b)
        times = interleaved_ms({f"k{k}": _call(m, x) for k, m in models.items()}, rounds=rounds, warmup=warmup)
        ratios, ms = median_ratios(times, "k100"), medians(times)
        for name in rows:
            rows[name][f"latency_ratio_batch_{b}"] = ratios[name]
            rows[name][f"latency_ms_batch_{b}"] = ms[name]
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, 1 round (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=None, help="training rounds (default 3; smoke 1)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.smoke:
        widths, max_iter, sk_iter, rounds, t_rounds, warmup, batches = [2, 4], 3, 3, 1, 3, 1, [1, 16]
    else:
        widths, max_iter, sk_iter, rounds, t_rounds, warmup, batches = [25, 50, 100, 200], 100, 200, 3, 50, 5, [
            1, 1024]
    rounds = args.rounds or rounds
    train, test = digits()
    start = time.perf_counter()
    trained, model, ensemble = training(train, widths=widths, rounds=rounds, max_iter=max_iter, sk_iter=sk_iter)
    result: dict[str, Any] = {
        "smoke": args.smoke, "threads": args.threads, "torch": torch.__version__, "machine": platform.machine(),
        "data": {"source": "digits", "train_rows": len(train), "test_rows": len(test), "features": train.x.shape[1]},
        "settings": {"rounds": rounds, "stage_max_iter": max_iter, "sklearn_max_iter": sk_iter, "eta": 0.1,
                     "subsample": 0.5, "units_per_stage": 1, "timing_rounds": t_rounds, "warmup": warmup,
                     "batches": batches},
        "training": trained,
        "inference": inference(model, ensemble, test, batches=batches, rounds=t_rounds, warmup=warmup),
        "truncation": truncation(model, test, batches=batches, rounds=t_rounds, warmup=warmup),
        "note": "training: seconds (median over rounds) and per-round ratios over scikit-learn's one-layer Adam "
                "MLP of the same width (above 1: slower); GB-NN's time for H units is that of its first H "
                "stages. inference / truncation: interleaved forward latencies, per-round median ratios over the "
                "plain MLP / the full model; accuracy on the test split.",
    }
    result["seconds"] = time.perf_counter() - start
    result["summary"] = {
        "gbnn_over_mlp_adam_h100": result["training"]["ratio_over_mlp_adam"].get("h100", {}).get("gbnn"),
        "merged_over_plain_batch_1024": result["inference"].get("batch_1024", {}).get("ratio_over_plain_mlp", {})
        .get("boosted_mlp"),
        "k50_latency_ratio_batch_1024": result["truncation"]["k50"].get("latency_ratio_batch_1024"),
        "k50_accuracy_drop": result["truncation"]["k50"]["accuracy_drop"],
        "median_gbnn_stage_s": statistics.median(
            [result["training"]["median_s"][f"gbnn_{max(widths)}"] / max(widths)]),
    }
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    print(json.dumps(result["summary"], indent=1))
    return result


if __name__ == "__main__":
    main()
