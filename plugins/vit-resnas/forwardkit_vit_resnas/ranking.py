"""Ranking quality of a super-network (the super-network's use as a performance estimator):
how well the accuracy a sub-network gets *inside* the trained super-network orders the sub-networks by
their accuracy when trained *stand-alone*. Kendall tau and Spearman rho from ``scipy.stats``."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from scipy import stats

from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_vit_resnas.arch import Arch
from forwardkit_vit_resnas.config import SupernetRankConfig
from forwardkit_vit_resnas.macs import analytic_macs
from forwardkit_vit_resnas.sampling import TINY_SUPERNET, supernet_of
from forwardkit_vit_resnas.search import supernet_scorer
from forwardkit_vit_resnas.training import accuracy, concat, fit, labelled
from forwardkit_vit_resnas.vit_res import ViTRes


def _finite(value: float) -> tuple[float, bool]:
    return (float(value), True) if math.isfinite(value) else (0.0, False)


def ranking_quality(supernet_scores: Sequence[float], standalone_scores: Sequence[float]) -> dict[str, float]:
    """``kendall_tau`` (tau-b, ``scipy.stats.kendalltau``) and ``spearman_rho`` between two score lists, with
    their p-values. A correlation that is undefined (a constant list) is reported as 0 with
    ``kendall_defined`` / ``spearman_defined`` = 0."""
    if len(supernet_scores) != len(standalone_scores) or len(supernet_scores) < 2:
        raise ValueError("ranking_quality needs two score lists of the same length >= 2")
    with warnings.catch_warnings():  # a constant list: undefined, reported below
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        tau = stats.kendalltau(supernet_scores, standalone_scores)
        rho = stats.spearmanr(supernet_scores, standalone_scores)
    (t, t_ok), (tp, _) = _finite(tau.statistic), _finite(tau.pvalue)
    (r, r_ok), (rp, _) = _finite(rho.statistic), _finite(rho.pvalue)
    return {"kendall_tau": t, "kendall_p": tp if t_ok else 1.0, "kendall_defined": float(t_ok),
            "spearman_rho": r, "spearman_p": rp if r_ok else 1.0, "spearman_defined": float(r_ok),
            "subnets": float(len(supernet_scores))}


def sample_archs(space: Any, count: int, seed: int) -> list[Arch]:
    """``count`` distinct sub-networks drawn uniformly (fewer if the space is smaller)."""
    rng, out = np.random.default_rng(seed), []
    for _ in range(50 * count):
        arch = space.random(rng)
        if arch not in out:
            out.append(arch)
        if len(out) == count:
            break
    return out


class SupernetRankAnalyzer(Analyzer):
    """Kendall tau / Spearman rho between super-network accuracy and stand-alone accuracy of sub-networks of a
    ``vit_res_supernet``. The given labelled samples are split (``train_fraction``, seeded): the stand-alone
    sub-networks train on the first part from scratch, and both accuracies are measured on the rest.
    ``archs`` / ``standalone_accuracy`` take sub-networks and stand-alone results measured elsewhere.
    Numbers: the correlations; table ``subnets``: MACs and both accuracies of each sub-network."""

    Config = SupernetRankConfig
    config: SupernetRankConfig
    conformance_models: ClassVar[tuple[Any, ...]] = (TINY_SUPERNET,)
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = ({"num_subnets": 3, "standalone_epochs": 1},)

    def analyze(self, model: Any, data: Iterable[Any] | None = None) -> Analysis:
        cfg, supernet = self.config, supernet_of(model)
        batches = labelled(data)
        if not batches:
            raise ValueError("the ranking analyzer needs labelled batches (dicts with 'x' and integer 'y')")
        x, y = concat(batches)
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(cfg.seed))
        cut = min(max(1, round(cfg.train_fraction * len(x))), len(x) - 1)
        train, test = order[:cut], order[cut:]
        archs = [Arch.from_dict(a) for a in cfg.archs] if cfg.archs else sample_archs(supernet.space, cfg.num_subnets,
                                                                                     cfg.seed)
        was = supernet.training
        supernet.eval()
        score = supernet_scorer(supernet, x[test], y[test])
        in_super = [score(a) for a in archs]
        supernet.train(was)
        alone = list(cfg.standalone_accuracy) if cfg.standalone_accuracy else [
            self._standalone(supernet, a, x[train], y[train], x[test], y[test], i) for i, a in enumerate(archs)]
        rows = [{"subnet": i, "macs": analytic_macs(a, config=supernet.config), "supernet_accuracy": s,
                 "standalone_accuracy": t, "arch": str(a.to_dict())}
                for i, (a, s, t) in enumerate(zip(archs, in_super, alone, strict=True))]
        return Analysis(numbers=ranking_quality(in_super, alone), tables={"subnets": rows})

    def _standalone(self, supernet: Any, arch: Arch, x: torch.Tensor, y: torch.Tensor, xt: torch.Tensor,
                    yt: torch.Tensor, index: int) -> float:
        """Accuracy on ``(xt, yt)`` of sub-network ``arch`` trained from scratch on ``(x, y)``."""
        cfg = self.config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed + index)
            net = ViTRes(supernet.subnet_config(arch))
        fit(net, x, y, epochs=cfg.standalone_epochs, lr=cfg.lr, batch_size=cfg.batch_size, seed=cfg.seed + index)
        return accuracy(net, xt, yt)
