"""The reproduction spec carries the card's pass bar; the suite's smoke run and the example experiment run."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from forwardkit_s_kan.reproduction import SPEC, SUITE
from forwardkit_s_kan.suite import run_suite

import forwardkit
from forwardkit.reproduce.spec import load_spec

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "s-kan-function-fitting.yaml"


def test_the_spec_is_declared_and_carries_the_cards_pass_bar() -> None:
    spec = load_spec(forwardkit.get_registry().reproductions["s-kan"])
    assert spec.fingerprint() == SPEC.fingerprint()
    assert "Pass bar: S-KAN variability lower than every single-space KAN and mean rank <= 2" in spec.pass_bar
    assert "Does not reproduce" in spec.pass_bar and len(spec.seeds) >= 3
    metrics = [c.figure.metric for c in spec.conditions]
    assert metrics == ["variability_margin", "skan_mean_rank", "skan_worse_than_median_single",
                       "distinct_selections"]
    assert SUITE["steps"] == 1000 and SUITE["phase_fracs"] == [0.6, 0.25, 0.15] and SUITE["lr"] == 1e-2


def test_the_suite_smoke_returns_every_figure_the_conditions_read() -> None:
    torch.set_num_threads(1)
    cfg = {**SUITE, **SPEC.arms["suite"]["smoke"], "tasks": [3]}
    out = run_suite(cfg, seed=0, smoke=True)
    for cond in SPEC.conditions:
        assert cond.figure.metric in out
    assert out["steps"] == 20 and out["params_pruned/3"] < out["params_phase1/3"]
    assert abs(out["params_mlp/3"] - out["params_pruned/3"]) <= 0.1 * out["params_pruned/3"]
    assert sum(out[f"selected/3/{s}"] for s in ("bspline", "chebyshev", "rbf", "fourier")) == 5 + 1


def test_the_example_runs_on_a_small_budget(tmp_path: Path) -> None:
    exp = yaml.safe_load(EXAMPLE.read_text())
    exp["data"].update(n_train=64, n_val=16, n_test=16)
    exp["trainer"].update(epochs=2, batch_size=16, eval_every=0)
    result = forwardkit.run(exp, run_dir=tmp_path, verbose=False)
    assert result is not None
