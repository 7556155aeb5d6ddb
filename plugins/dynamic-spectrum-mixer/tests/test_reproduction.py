"""The reproduction spec carries the card's whole pass bar; every arm has the same recipe and budget; the
latency benchmark runs (smoke) and writes ratios against dsm; the example experiment validates."""

from __future__ import annotations

from pathlib import Path

import torch
from forwardkit_dynamic_spectrum_mixer.reproduction import EPOCHS, GATE_SPREAD, PASS_BAR, SPEC

import forwardkit
from forwardkit.reproduce.spec import load_spec
from forwardkit.testing import load_script

ROOT = Path(__file__).resolve().parents[1]
CARD_BAR = ("Pass bar: `dsm` mean >= `dct_static` mean and gate spread > 0.05. \"Does not reproduce at this "
            "scale\": `dct_static` >= `dsm` by more than one std, or gates collapse to a constant (spread < 0.01).")


def test_the_spec_is_registered_and_carries_the_cards_pass_bar() -> None:
    spec = load_spec(forwardkit.get_registry().reproductions["dynamic-spectrum-mixer"])
    assert spec.fingerprint() == SPEC.fingerprint()
    assert spec.pass_bar == PASS_BAR and spec.pass_bar.startswith(CARD_BAR)
    kinds = [c.kind for c in spec.conditions]
    assert kinds == ["compare", "threshold", "std_rule", "threshold"]
    first, spread, std_rule, collapse = spec.conditions
    assert (first.method, first.baseline, first.test, first.margin) == ("dsm", "dct_static", "non_inferiority", 0.0)
    assert (spread.figure.arm, spread.figure.metric, spread.op, spread.value) == ("dsm", GATE_SPREAD, ">", 0.05)
    assert (std_rule.method, std_rule.baseline, std_rule.k) == ("dsm", "dct_static", 1.0)
    assert (collapse.op, collapse.value) == (">=", 0.01)
    assert len(spec.seeds) >= 3 and spec.paired
    assert list(spec.arms) == ["dsm", "dct_static", "fft_global_filter", "pooling"]


def test_every_arm_has_the_same_data_recipe_and_budget_and_differs_only_in_its_mixer() -> None:
    exps = {a: SPEC.experiment(a, 0) for a in SPEC.arms}
    for arm, exp in exps.items():
        assert EPOCHS == 10 and exp["trainer"]["epochs"] == EPOCHS and exp["trainer"]["batch_size"] == 128, arm
        assert exp["learning_rule"] == exps["dsm"]["learning_rule"] and exp["data"] == exps["dsm"]["data"], arm
        assert exp["model"]["name"] == "dsm_tiny" and exp["model"]["token_mixer"] == arm, arm


def test_the_latency_benchmark_times_every_mixer_against_dsm(tmp_path: Path) -> None:
    path = ROOT / "benchmarks" / "latency.py"
    module = load_script(path)
    threads = torch.get_num_threads()
    try:
        out = module.main(["--smoke", "--out", str(tmp_path / "latency.json"), "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    grid = out["grids"]["8"]
    assert {"dsm", "dct_static", "fft_global_filter", "attention"} <= set(grid["ms"])
    for label, ratio in grid["ratio_vs_dsm"].items():
        assert ratio["fwd_bwd"] > 0, label
    assert (tmp_path / "latency.json").is_file()


def test_the_example_experiment_validates() -> None:
    import yaml

    example = ROOT.parents[1] / "examples" / "dynamic-spectrum-mixer-mnist.yaml"
    exp = forwardkit.config.validate_experiment(yaml.safe_load(example.read_text()))
    assert exp.model.name == "dsm_tiny"
