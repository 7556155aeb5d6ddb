"""Evolutionary search: the MAC window, reproducibility, the compressor's extracted winner, the ranking
analyzer, and the multi-architectural sampling callback's batches."""

from __future__ import annotations

import pytest
import torch
from forwardkit_vit_resnas.arch import SearchSpace
from forwardkit_vit_resnas.config import EvolutionarySearchConfig, ViTResSuperNetConfig
from forwardkit_vit_resnas.macs import analytic_macs
from forwardkit_vit_resnas.ranking import SupernetRankAnalyzer, ranking_quality
from forwardkit_vit_resnas.sampling import TINY_SUPERNET, MultiArchSampling
from forwardkit_vit_resnas.search import EvolutionarySearchCompressor, evolutionary_search
from forwardkit_vit_resnas.supernet import ViTResSuperNet
from forwardkit_vit_resnas.vit_res import ViTRes

from forwardkit.interfaces import RunContext

FIELDS = {k: v for k, v in TINY_SUPERNET.items() if k != "name"}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _search(seed: int, score=None):
    cfg = ViTResSuperNetConfig(**FIELDS)
    space = SearchSpace(cfg)
    macs = lambda a: float(analytic_macs(a, config=cfg))
    budget = 0.6 * macs(space.largest())
    # a score with a known optimum: more attention and MLP width is better
    score = score or (lambda a: float(sum(map(sum, a.attn)) + sum(map(sum, a.mlp)) / 10))
    search_cfg = EvolutionarySearchConfig(seed=seed, population=12, iterations=4, parents=4, mutants=6,
                                          crossovers=6, lower_bound=0.9)
    return evolutionary_search(space, score, macs, budget=budget, config=search_cfg), macs, budget


def test_every_candidate_lies_in_the_mac_window_and_the_search_improves() -> None:
    result, macs, budget = _search(0)
    assert len(result.history) > 12
    for cand in result.history:
        assert 0.9 * budget <= cand.macs == macs(cand.arch) <= budget
    assert len({c.arch for c in result.history}) == len(result.history)  # nothing evaluated twice
    assert result.best_per_iteration == sorted(result.best_per_iteration)
    assert result.best.score == max(c.score for c in result.history)


def test_the_search_is_reproducible_with_a_fixed_seed() -> None:
    a, _, _ = _search(3)
    b, _, _ = _search(3)
    c, _, _ = _search(4)
    assert [x.arch for x in a.history] == [x.arch for x in b.history]
    assert [x.arch for x in a.history] != [x.arch for x in c.history]


def _batches(n: int = 3):
    gen = torch.Generator().manual_seed(0)
    return [{"x": torch.randn(8, 8, 8, 3, generator=gen), "y": torch.randint(0, 10, (8,), generator=gen)}
            for _ in range(n)]


def test_the_compressor_returns_the_extracted_winner_equal_to_the_masked_supernetwork() -> None:
    torch.manual_seed(0)
    net = ViTResSuperNet(**FIELDS).eval()
    comp = EvolutionarySearchCompressor(population=6, iterations=2, parents=3, mutants=2, crossovers=2,
                                        latency_repeats=1, lower_bound=0.8, budget_fraction=0.6)
    data = _batches()
    sub, report = comp.compress(net, data)
    assert isinstance(sub, ViTRes)
    d = report.details
    low, high = d["window"]
    assert low <= report.after.macs <= high < report.before.macs
    assert report.after.parameters < report.before.parameters
    x = data[0]["x"]
    from forwardkit_vit_resnas.arch import Arch

    with torch.no_grad(), net.using_arch(Arch.from_dict(d["arch"])):
        torch.testing.assert_close(sub(x), net(x), rtol=1e-5, atol=1e-5)
    assert report.after.accuracy == pytest.approx(d["supernet_accuracy_of_winner"])


def test_ranking_quality_is_kendall_tau_and_undefined_correlations_are_reported() -> None:
    q = ranking_quality([0.1, 0.2, 0.3, 0.4], [0.2, 0.1, 0.5, 0.6])
    assert q["kendall_tau"] == pytest.approx(2 / 3) and q["kendall_defined"] == 1.0
    assert ranking_quality([0.5, 0.5, 0.5], [0.1, 0.2, 0.3])["kendall_defined"] == 0.0


def test_the_ranking_analyzer_uses_given_standalone_accuracies() -> None:
    torch.manual_seed(0)
    net = ViTResSuperNet(**FIELDS).eval()
    space = net.space
    archs = [space.largest().to_dict(), space.smallest().to_dict()]
    analysis = SupernetRankAnalyzer(archs=archs, standalone_accuracy=[0.9, 0.5]).analyze(net, _batches(2))
    assert analysis.numbers["subnets"] == 2.0 and len(analysis.tables["subnets"]) == 2
    assert analysis.tables["subnets"][0]["macs"] > analysis.tables["subnets"][1]["macs"]


def test_the_callback_gives_each_slice_of_the_batch_its_own_architecture() -> None:
    torch.manual_seed(0)
    net = ViTResSuperNet(**FIELDS)
    cb = MultiArchSampling(examples_per_arch=4, warmup_epochs=0, seed=0)
    ctx = RunContext(model=net)
    cb.on_fit_start(ctx)
    cb.on_epoch_start(ctx)
    batch = {"x": torch.randn(16, 8, 8, 3), "y": torch.zeros(16, dtype=torch.long)}
    assert cb.on_batch_start(batch, ctx) is batch
    assert net.sample_archs is not None and len(net.sample_archs) == 4
    assert len(set(net.sample_archs)) > 1
    cb.on_step_end({"loss": 1.0}, ctx)
    assert net.sample_archs is None
    single = MultiArchSampling(single_arch=True, seed=0)
    single.on_fit_start(ctx)
    single.on_batch_start(batch, ctx)
    assert len(net.sample_archs) == 1
    # during the warm-up's first epoch only the largest option of every gene is drawn
    warm = MultiArchSampling(examples_per_arch=4, warmup_epochs=3, rewire=False, seed=0)
    warm.on_fit_start(ctx)
    warm.on_epoch_start(ctx)
    warm.on_batch_start(batch, ctx)
    assert set(net.sample_archs) == {net.largest_arch()}
