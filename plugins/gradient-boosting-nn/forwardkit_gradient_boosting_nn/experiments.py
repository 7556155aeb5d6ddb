"""The reproduction's program arms (card "Miniature reproduction"): GB-NN through the trainer, and the same
single-hidden-layer network trained jointly by scikit-learn's own solvers (Adam, L-BFGS, SGD).

Every arm of one seed uses the same ``tabular`` split (``seed``: stratified 64 / 16 / 20 % train / val / test
for classes, random for the diabetes regression, features standardised with the train statistics, the
diabetes target too). Figures (per seed):

* ``test/accuracy`` (classification) or ``test/rmse`` (regression, standardised units; ``test/rmse_raw`` in
  the target's units), and ``val/...``;
* ``trunc/<m>_<k>`` -- the metric keeping the first ``k`` % of the 100 hidden units, ``k`` in 10, 25, 50, 75,
  100 (GB-NN: the first stages; joint nets: the first units by index, ``trunc/index_...``, and by largest
  output-weight norm, ``trunc/norm_...``); ``trunc/drop_50`` = accuracy at 100 % minus at 50 % (points / 100);
* GB-NN: ``eta`` (chosen on val among ``etas``), ``merge/max_abs_diff`` (merged network against the staged
  ensemble on the test rows, in float64: the identity itself) and ``merge/max_abs_diff_f32`` (float32);
* ``train_seconds``.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from typing import Any

import numpy as np
import torch

#: the kept shares of the hidden units, in percent (card: 10, 25, 50, 75, 100 %)
KEEP = (10, 25, 50, 75, 100)
VAL_FRACTION, TEST_FRACTION = 0.16, 0.2


def _data(source: str, seed: int) -> Any:
    import forwardkit

    return forwardkit.create("dataset", "tabular", source=source, val_fraction=VAL_FRACTION,
                             test_fraction=TEST_FRACTION, seed=seed, standardize=True, standardize_target=True)


def _metric_name(classification: bool) -> str:
    return "accuracy" if classification else "rmse"


def _score(out: np.ndarray, y: np.ndarray, classification: bool) -> float:
    """Accuracy of logits ``(N, K)`` (or a single logistic logit ``(N, 1)``), or RMSE of ``(N, 1)`` values."""
    if classification:
        pred = (out[:, 0] > 0).astype(np.int64) if out.shape[1] == 1 else out.argmax(axis=1)
        return float((pred == y.reshape(-1)).mean())
    return float(np.sqrt(((out.reshape(-1) - y.reshape(-1)) ** 2).mean()))


def _truncation_figures(prefix: str, scores: dict[int, float], classification: bool) -> dict[str, float]:
    name = _metric_name(classification)
    out = {f"trunc/{prefix}{name}_{k}": v for k, v in scores.items()}
    sign = 1.0 if classification else -1.0  # a loss is positive: accuracy lost, or RMSE gained
    out[f"trunc/{prefix}drop_50"] = sign * (scores[100] - scores[50])
    return out


# ---- GB-NN, through the trainer ------------------------------------------------------------------------------
def gbnn_experiment(source: str, seed: int, *, stages: int, units_per_stage: int, eta: float, stage_max_iter: int,
                    subsample: float) -> dict[str, Any]:
    """The experiment that boosts one ``boosted_mlp`` on one split: one full-batch trainer step per stage."""
    return {
        "name": f"gbnn-{source}-s{seed}",
        "seed": seed,
        "data": {"name": "tabular", "source": source, "val_fraction": VAL_FRACTION, "test_fraction": TEST_FRACTION,
                 "seed": seed, "standardize": True, "standardize_target": True},
        "model": {"name": "boosted_mlp", "stages": stages, "units_per_stage": units_per_stage,
                  "activation": "sigmoid"},
        "learning_rule": {"name": "gradient_boosted_head", "eta": eta, "subsample": subsample,
                          "stage_optimizer": "lbfgs", "stage_max_iter": stage_max_iter, "stage_l2": 1e-4},
        "trainer": {"batch_size": 4096, "shuffle": False, "max_steps": stages, "epochs": stages,
                    "eval_every": 0, "checkpoint_every": 0, "log_every": 1000, "progress": "none", "plots": False,
                    "test_at_end": True},
    }


def _merge_gap(trainer: Any, x: torch.Tensor) -> tuple[float, float]:
    """Largest |merged - staged| on ``x``, in float64 and in float32."""
    model, ensemble = trainer.model, trainer.rule.ensemble()
    with torch.no_grad():
        f32 = float((model(x) - ensemble(x)).abs().max())
        m64, e64 = copy.deepcopy(model).double(), copy.deepcopy(ensemble).double()
        f64 = float((m64(x.double()) - e64(x.double())).abs().max())
    return f64, f32


def gbnn_arm(config: dict[str, Any], *, seed: int, smoke: bool) -> dict[str, float]:
    """GB-NN on one split: each eta of ``etas`` trained through the trainer, the best on val kept."""
    from forwardkit.engine.trainer import Trainer

    source = config["source"]
    stages, units = int(config.get("stages", 100)), int(config.get("units_per_stage", 1))
    runs: list[tuple[float, float, Any, float]] = []
    start = time.perf_counter()
    for eta in config.get("etas", [0.1, 1.0]):
        exp = gbnn_experiment(source, seed, stages=stages, units_per_stage=units, eta=float(eta),
                              stage_max_iter=int(config.get("stage_max_iter", 100)),
                              subsample=float(config.get("subsample", 0.5)))
        trainer = Trainer(exp, write=False, verbose=False)
        trainer.fit()
        val = trainer.evaluate("val")
        classification = "val/accuracy" in val
        key = "val/accuracy" if classification else "val/mse"
        goodness = val[key] if classification else -val[key]
        runs.append((goodness, -float(eta), trainer, float(eta)))  # ties: the smaller eta
    seconds = time.perf_counter() - start
    best: tuple[float, float, Any, float] = max(runs, key=lambda r: (r[0], r[1]))
    trainer, eta = best[2], best[3]
    test = trainer.dataset.split("test")
    classification = not test.y.is_floating_point()
    model = trainer.model.eval()
    with torch.no_grad():
        staged = model.staged_outputs(test.x).numpy()  # (T + 1, N, K)
    y = test.y.numpy()
    scores = {k: _score(staged[max(1, round(k / 100 * stages))], y, classification) for k in KEEP}
    figures = _finals(trainer, classification)
    figures.update(_truncation_figures("", scores, classification))
    f64, f32 = _merge_gap(trainer, test.x)
    figures.update({"eta": eta, "merge/max_abs_diff": f64, "merge/max_abs_diff_f32": f32, "train_seconds": seconds,
                    "stages_fitted": float(int(model.fitted))})
    for _, _, other, e in runs:
        figures[f"eta_{e:g}/test_{_metric_name(classification)}"] = _finals(other, classification)[
            f"test/{_metric_name(classification)}"]
    return figures


def _finals(trainer: Any, classification: bool) -> dict[str, float]:
    out = {}
    for split in ("val", "test"):
        metrics = trainer.evaluate(split)
        if classification:
            out[f"{split}/accuracy"] = float(metrics[f"{split}/accuracy"])
        else:
            out[f"{split}/rmse"] = math.sqrt(float(metrics[f"{split}/mse"]))
    if not classification:
        scaler = trainer.dataset.metadata.extra["target_scaler"]
        out["test/rmse_raw"] = out["test/rmse"] * float(scaler["std"])
    return out


# ---- the same network trained jointly by scikit-learn -----------------------------------------------------------
def _sk_forward(net: Any, x: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """The raw outputs of a fitted scikit-learn MLP (logistic hidden units) keeping only the units ``keep``."""
    w1, w2 = net.coefs_
    b1, b2 = net.intercepts_
    h = 1.0 / (1.0 + np.exp(-(x @ w1 + b1)))
    if keep is not None:
        h, w2 = h[:, keep], w2[keep]
    return h @ w2 + b2


def _fit_joint(solver: str, x: np.ndarray, y: np.ndarray, xv: np.ndarray, yv: np.ndarray, classification: bool,
               *, seed: int, hidden: int, rounds: int, patience: int, lbfgs_chunk: int,
               learning_rate: float = 1e-3) -> tuple[Any, int]:
    """scikit-learn's MLP with ``solver``, early-stopped on the validation split: the weights of the best
    validation score over at most ``rounds`` rounds are kept, stopping after ``patience`` rounds without a gain
    (Adam/SGD: a round is one epoch of ``partial_fit``; L-BFGS: ``lbfgs_chunk`` iterations of a warm-started
    ``fit``)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    cls = MLPClassifier if classification else MLPRegressor
    kwargs: dict[str, Any] = {"hidden_layer_sizes": (hidden,), "activation": "logistic", "solver": solver,
                              "alpha": 1e-4, "random_state": seed, "learning_rate_init": learning_rate}
    target = y if classification else y.reshape(-1)
    if solver == "lbfgs":
        net = cls(max_iter=lbfgs_chunk, warm_start=True, tol=0.0, **kwargs)
    else:
        net = cls(shuffle=True, **kwargs)
    best, best_state, since, used = -math.inf, None, 0, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for round_ in range(1, rounds + 1):
            used = round_
            if solver == "lbfgs":
                net.fit(x, target)
            elif classification:
                net.partial_fit(x, target, classes=np.unique(y))
            else:
                net.partial_fit(x, target)
            score = _score(_sk_forward(net, xv), yv, classification)
            score = score if classification else -score
            if score > best + 1e-12:
                best, since = score, 0
                best_state = ([c.copy() for c in net.coefs_], [b.copy() for b in net.intercepts_])
            else:
                since += 1
                if since >= patience:
                    break
    assert best_state is not None
    net.coefs_, net.intercepts_ = best_state
    return net, used


def joint_arm(config: dict[str, Any], *, seed: int, smoke: bool) -> dict[str, float]:
    """One scikit-learn solver on one split: test metric, and truncation by unit index and by output norm."""
    data = _data(config["source"], seed)
    tr, va, te = data.split("train"), data.split("val"), data.split("test")
    classification = not tr.y.is_floating_point()
    x, y = tr.x.double().numpy(), tr.y.numpy()
    hidden = int(config.get("hidden", 100))
    start = time.perf_counter()
    lbfgs = config["solver"] == "lbfgs"
    rounds = int(config.get("rounds", 20 if lbfgs else 500))
    patience = int(config.get("patience", 4 if lbfgs else 20))
    net, used = _fit_joint(config["solver"], x, y, va.x.double().numpy(), va.y.numpy(), classification, seed=seed,
                           hidden=hidden, rounds=rounds, patience=patience,
                           lbfgs_chunk=int(config.get("lbfgs_chunk", 25)),
                           learning_rate=float(config.get("learning_rate", 1e-3)))
    seconds = time.perf_counter() - start
    xt, yt = te.x.double().numpy(), te.y.numpy()
    name = _metric_name(classification)
    figures = {f"val/{name}": _score(_sk_forward(net, va.x.double().numpy()), va.y.numpy(), classification),
               f"test/{name}": _score(_sk_forward(net, xt), yt, classification), "train_seconds": seconds,
               "rounds": float(used)}
    if not classification:
        figures["test/rmse_raw"] = figures["test/rmse"] * float(data.metadata.extra["target_scaler"]["std"])
    norms = np.linalg.norm(net.coefs_[1], axis=1)  # (hidden,): output-weight norm of every unit
    by_norm = np.argsort(-norms, kind="stable")
    for prefix, order in (("index_", np.arange(hidden)), ("norm_", by_norm)):
        scores = {k: _score(_sk_forward(net, xt, np.sort(order[: max(1, round(k / 100 * hidden))])), yt,
                            classification) for k in KEEP}
        figures.update(_truncation_figures(prefix, scores, classification))
    return figures
