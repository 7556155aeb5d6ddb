"""The proxy A-distance of learned features (Ben-David et al. 2006; Ganin et al. 2016, sec. 3.2 eq. 2-3, sec. 5.1.5).

The source and target features, labelled 0 and 1 (the set U of eq. 2), are split into two halves; linear SVMs
trained on the first half for a range of C values are scored on the second, and the lowest error ``err`` gives
``PAD = 2 (1 - 2 err)`` (eq. 3; sec. 5.1.5, steps 1-5): 2 when the domains are perfectly separable, 0 when the
classifier is at chance. Lower PAD after DANN training means more domain-invariant features (the paper's Fig. 3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_dann.config import ProxyADistanceConfig
from forwardkit_dann.head import small_dann_net, tap_features

__all__ = ["ProxyADistance", "domain_features", "proxy_a_distance"]


def _classifier(kind: str, c: float, seed: int) -> Any:
    if kind == "linear_svm":
        from sklearn.svm import LinearSVC

        return LinearSVC(C=c, dual="auto", max_iter=5000, random_state=seed)
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000)


def proxy_a_distance(source: np.ndarray, target: np.ndarray, *, classifier: str = "linear_svm",
                     c_values: Iterable[float] = (0.001, 0.01, 0.1, 1.0), selection: str = "lowest_test_error",
                     test_fraction: float = 0.5, max_per_domain: int = 2000, standardize: bool = True,
                     seed: int = 0) -> dict[str, float]:
    """PAD = 2 (1 - 2 err) (eq. 3) of features ``source`` ``(n_S, D)`` against ``target`` ``(n_T, D)``.

    Both domains are subsampled (seeded) to ``min(n_S, n_T, max_per_domain)`` rows, split into a training and a
    test part per domain (``test_fraction``), standardised with the training part's statistics. With
    ``selection='lowest_test_error'`` (sec. 5.1.5) one classifier per C is fitted on the training part and ``err`` is
    the lowest test error among them; with ``'cross_validation'`` the C of lowest 3-fold cross-validated error on
    the training part is refitted and scored once. Returns ``pad``, ``error`` (that test error), ``train_error``,
    ``c``, ``n_train``, ``n_test``, ``dim``.
    """
    rng = np.random.default_rng(seed)
    n = min(len(source), len(target), max_per_domain)
    if n < 2:
        raise ForwardkitError(f"proxy A-distance needs at least 2 samples per domain, got {len(source)} source and "
                              f"{len(target)} target")
    if selection not in ("lowest_test_error", "cross_validation"):
        raise ForwardkitError(f"unknown selection {selection!r}; choose 'lowest_test_error' or 'cross_validation'")
    xs = [np.asarray(d, np.float64)[rng.permutation(len(d))[:n]] for d in (source, target)]
    n_test = min(max(1, round(n * test_fraction)), n - 1)
    train = np.concatenate([x[n_test:] for x in xs])
    test = np.concatenate([x[:n_test] for x in xs])
    y_train = np.repeat([0, 1], n - n_test)
    y_test = np.repeat([0, 1], n_test)
    if standardize:
        mean, std = train.mean(axis=0), train.std(axis=0)
        std[std < 1e-8] = 1.0
        train, test = (train - mean) / std, (test - mean) / std
    cs = [float(c) for c in c_values]
    fitted: list[tuple[float, float, Any]] = []  # (test error, C, model)
    if selection == "lowest_test_error":
        for c in cs:
            model = _classifier(classifier, c, seed).fit(train, y_train)
            fitted.append((float(np.mean(model.predict(test) != y_test)), c, model))
        error, best, model = min(fitted, key=lambda t: t[0])
    else:
        from sklearn.model_selection import StratifiedKFold, cross_val_score

        best = cs[0]
        folds = min(3, n - n_test)
        if len(cs) > 1 and folds >= 2:
            cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
            scores = [cross_val_score(_classifier(classifier, c, seed), train, y_train, cv=cv).mean() for c in cs]
            best = cs[int(np.argmax(scores))]
        model = _classifier(classifier, best, seed).fit(train, y_train)
        error = float(np.mean(model.predict(test) != y_test))
    return {"pad": 2.0 * (1.0 - 2.0 * error), "error": error,
            "train_error": float(np.mean(model.predict(train) != y_train)), "c": best,
            "n_train": float(len(y_train)), "n_test": float(len(y_test)), "dim": float(train.shape[1])}


def domain_features(model: nn.Module, data: Iterable[Mapping[str, Tensor]], *, tap: str, domain_key: str = "domain",
                    target_key: str = "target_x") -> tuple[np.ndarray, np.ndarray]:
    """Tap features ``(n, D)`` of the source and target rows of ``data`` (eval mode, no gradients): from batches
    with ``target_key`` (``x`` source, ``target_key`` target) or with ``domain_key`` (0 source, else target)."""
    parts: dict[int, list[Tensor]] = {0: [], 1: []}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in data:
                key = getattr(model, "input_key", "x")
                if target_key in batch:
                    parts[0].append(tap_features(model, tap, batch[key])[1])
                    parts[1].append(tap_features(model, tap, batch[target_key])[1])
                elif domain_key in batch:
                    f = tap_features(model, tap, batch[key])[1]
                    is_target = batch[domain_key] != 0
                    parts[0].append(f[~is_target])
                    parts[1].append(f[is_target])
                else:
                    raise ForwardkitError(f"proxy A-distance: a batch has neither {target_key!r} nor {domain_key!r}, "
                                          f"so its domains are unknown (keys: {sorted(batch)})")
    finally:
        model.train(was_training)
    if not parts[0] or not parts[1]:
        raise ForwardkitError("proxy A-distance: no data")
    return (torch.cat(parts[0]).float().cpu().numpy(), torch.cat(parts[1]).float().cpu().numpy())


class ProxyADistance(Analyzer):
    """``proxy_a_distance``: PAD of the features at ``tap`` between the source and target rows of the data.

    The trainer gives it a few batches of the last split (``mnistm_digits``' test: source and target test digits,
    told apart by ``domain``). Numbers: ``pad``, ``error``, ``train_error``, ``c``, ``n_train``, ``n_test``,
    ``dim``.
    """

    Config = ProxyADistanceConfig
    config: ProxyADistanceConfig
    #: the kit's example batches of this model carry target rows (``target_x``)
    conformance_models = (small_dann_net,)
    conformance_configs = ({}, {"classifier": "logistic", "c_values": [1.0, 0.1], "standardize": False,
                                "selection": "cross_validation"})

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        c = self.config
        if data is None:
            raise ForwardkitError("proxy A-distance needs data with both domains")
        source, target = domain_features(model, data, tap=c.tap, domain_key=c.domain_key, target_key=c.target_key)
        numbers = proxy_a_distance(source, target, classifier=c.classifier, c_values=c.c_values,
                                   selection=c.selection, test_fraction=c.test_fraction,
                                   max_per_domain=c.max_per_domain, standardize=c.standardize, seed=c.seed)
        return Analysis(numbers=numbers)
