"""MAC-constrained evolutionary search and sub-network extraction (paper: evolutionary search; official
``evo_search.py``, ``search_utils/evolver.py``, ``search_utils/gen_utils.py``).

Iteration 1 draws ``population`` random sub-networks whose MACs lie in ``[lower_bound * budget, budget]``; each
later iteration takes the ``parents`` best sub-networks evaluated so far and adds ``mutants`` mutations and
``crossovers`` crossovers of them, each redrawn until it lies in the MAC window and was not evaluated before.
A sub-network's score is its accuracy inside the trained super-network (masks fixed; equal to the accuracy of
the extracted network). The best one is extracted as a stand-alone
:class:`~forwardkit_vit_resnas.vit_res.ViTRes` (which the paper then retrains from scratch).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from forwardkit.interfaces import CompressionReport, Compressor, ModelFigures
from forwardkit.measure import count_parameters, latency_ms, state_bytes
from forwardkit_vit_resnas.arch import Arch, SearchSpace
from forwardkit_vit_resnas.config import EvolutionarySearchConfig
from forwardkit_vit_resnas.macs import analytic_macs
from forwardkit_vit_resnas.sampling import TINY_SUPERNET, supernet_of
from forwardkit_vit_resnas.supernet import ViTResSuperNet
from forwardkit_vit_resnas.training import accuracy, concat, fit, labelled


@dataclass(frozen=True)
class Candidate:
    """One evaluated sub-network."""

    arch: Arch
    macs: float
    score: float
    iteration: int


@dataclass
class SearchResult:
    """The outcome of :func:`evolutionary_search`: every candidate in evaluation order, the best, per-iteration
    best scores, the MAC window and the wall time."""

    history: list[Candidate]
    best_per_iteration: list[float]
    low: float
    high: float
    seconds: float
    skipped: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> Candidate:
        return ranked(self.history)[0]


def ranked(candidates: list[Candidate]) -> list[Candidate]:
    """Best first (higher score; ties: fewer MACs, then earlier)."""
    return sorted(candidates, key=lambda c: (-c.score, c.macs))


def evolutionary_search(space: SearchSpace, score: Callable[[Arch], float], macs: Callable[[Arch], float], *,
                        budget: float, config: EvolutionarySearchConfig) -> SearchResult:
    """The search of the module docstring; ``score`` is maximised, every candidate has
    ``config.lower_bound * budget <= macs <= budget``. Deterministic given ``config.seed`` and ``score``."""
    cfg, rng, start = config, np.random.default_rng(config.seed), time.perf_counter()
    low, high = cfg.lower_bound * budget, budget
    seen: dict[Arch, Candidate] = {}
    best: list[float] = []
    skipped = 0

    def in_window(a: Arch) -> bool:
        return low <= macs(a) <= high

    def evaluate(arch: Arch, iteration: int) -> None:
        seen[arch] = Candidate(arch, float(macs(arch)), float(score(arch)), iteration)

    def add(make: Callable[[], Arch], count: int, iteration: int) -> int:
        """Up to ``count`` new in-window candidates from ``make``; returns how many slots stayed empty."""
        missed, fresh = 0, 0
        while fresh < count:
            for _ in range(cfg.max_tries):
                arch = make()
                if arch not in seen and in_window(arch):
                    evaluate(arch, iteration)
                    fresh += 1
                    break
            else:
                missed += count - fresh
                break
        return missed

    skipped += add(lambda: space.random_in_window(rng, macs, low, high, cfg.max_tries), cfg.population, 0)
    best.append(ranked(list(seen.values()))[0].score)
    for it in range(1, cfg.iterations):
        parents = [c.arch for c in ranked(list(seen.values()))[: cfg.parents]]
        skipped += add(functools.partial(_mutant, space, parents, cfg.mutate_prob, rng), cfg.mutants, it)
        if len(parents) >= 2:
            skipped += add(functools.partial(_child, space, parents, rng), cfg.crossovers, it)
        best.append(ranked(list(seen.values()))[0].score)
    return SearchResult(history=list(seen.values()), best_per_iteration=best, low=low, high=high,
                        seconds=time.perf_counter() - start, skipped=skipped)


def _mutant(space: SearchSpace, parents: list[Arch], prob: float, rng: np.random.Generator) -> Arch:
    """A mutation of a random parent (official ``evolve_sample``)."""
    return space.mutate(parents[int(rng.integers(len(parents)))], prob, rng)


def _child(space: SearchSpace, parents: list[Arch], rng: np.random.Generator) -> Arch:
    """A crossover of two different random parents (official ``evolve_sample``)."""
    i, j = rng.choice(len(parents), size=2, replace=False)
    return space.crossover(parents[int(i)], parents[int(j)], rng)


def supernet_scorer(supernet: ViTResSuperNet, x: Tensor, y: Tensor) -> Callable[[Arch], float]:
    """Accuracy of a sub-network inside ``supernet`` (masks fixed, eval mode) on images ``x``, labels ``y``."""
    def score(arch: Arch) -> float:
        with supernet.using_arch(arch):
            return accuracy(supernet, x, y)
    return score


def mac_counter(supernet: ViTResSuperNet) -> Callable[[Arch], float]:
    """Analytic MACs per image of a sub-network of ``supernet`` (cached)."""
    cache: dict[Arch, float] = {}

    def macs(arch: Arch) -> float:
        if arch not in cache:
            cache[arch] = float(analytic_macs(arch, config=supernet.config))
        return cache[arch]
    return macs


def search_supernet(supernet: ViTResSuperNet, x: Tensor, y: Tensor, config: EvolutionarySearchConfig) -> SearchResult:
    """:func:`evolutionary_search` over ``supernet``'s sub-networks scored on ``(x, y)``; the budget is
    ``config.budget_macs`` or ``config.budget_fraction`` of the largest sub-network's MACs."""
    macs = mac_counter(supernet)
    budget = config.budget_macs or config.budget_fraction * macs(supernet.largest_arch())
    return evolutionary_search(supernet.space, supernet_scorer(supernet, x, y), macs, budget=budget, config=config)


def figures(model: nn.Module, x: Tensor | None, y: Tensor | None, macs: int, repeats: int,
            timed: Tensor | None = None) -> ModelFigures:
    """Measured parameters, safetensors bytes, the given MACs, median latency of one forward of ``timed`` (default
    ``x``) and accuracy on ``(x, y)``."""
    lat = acc = None
    if x is not None and y is not None:
        was = model.training
        model.eval()
        sample = x if timed is None else timed
        with torch.no_grad():
            lat = latency_ms(lambda: model(sample), warmup=1, repeats=repeats)
        model.train(was)
        acc = accuracy(model, x, y)
    return ModelFigures(parameters=count_parameters(model), bytes=state_bytes(model), macs=int(macs), latency_ms=lat,
                        accuracy=acc)


class EvolutionarySearchCompressor(Compressor):
    """Evolutionary search over a trained ``vit_res_supernet``'s sub-networks on the given labelled batches,
    then extraction of the best one (optionally fine-tuned on the same batches). The report's ``before`` is the
    super-network (its largest sub-network's MACs and accuracy), ``after`` the extracted winner (latency: one
    forward of the first batch); ``details``
    hold the architecture, the MAC window, every iteration's best score and the search time."""

    Config = EvolutionarySearchConfig
    config: EvolutionarySearchConfig
    conformance_models: ClassVar[tuple[Any, ...]] = (TINY_SUPERNET,)
    conformance_configs: ClassVar[tuple[dict[str, Any], ...]] = (
        {"population": 6, "iterations": 2, "parents": 3, "mutants": 2, "crossovers": 2, "latency_repeats": 1,
         "lower_bound": 0.8},)

    def compress(self, model: nn.Module, data: Iterable[Any] | None = None) -> tuple[nn.Module, CompressionReport]:
        cfg, supernet = self.config, supernet_of(model)
        batches = labelled(data)
        if not batches:
            raise ValueError("the evolutionary search scores sub-networks by accuracy: give labelled batches "
                             "(dicts with 'x' and integer 'y'), e.g. the validation split")
        x, y = concat(batches)
        was = supernet.training
        supernet.eval()
        result = search_supernet(supernet, x, y, cfg)
        winner = result.best
        new = supernet.extract(winner.arch).eval()
        losses = (fit(new, x, y, epochs=cfg.retrain_epochs, lr=cfg.retrain_lr, seed=cfg.seed)
                  if cfg.retrain_epochs else [])
        with supernet.using_arch(None):
            before = figures(supernet, x, y, analytic_macs(supernet), cfg.latency_repeats, batches[0]["x"])
        after = figures(new, x, y, analytic_macs(new), cfg.latency_repeats, batches[0]["x"])
        supernet.train(was)
        details = {
            "arch": winner.arch.to_dict(), "budget_macs": result.high, "window": [result.low, result.high],
            "supernet_accuracy_of_winner": winner.score, "best_per_iteration": result.best_per_iteration,
            "evaluated": len(result.history), "unfilled_slots": result.skipped, "search_seconds": result.seconds,
            "retrain_losses": losses,
        }
        return new, CompressionReport(before=before, after=after, details=details)
