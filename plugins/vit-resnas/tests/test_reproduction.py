"""The reproduction spec carries the card's whole pass bar, its arms differ in one thing at about equal MACs, the
smoke runs end to end, and the example experiment validates."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from forwardkit_vit_resnas.config import ViTResConfig
from forwardkit_vit_resnas.macs import analytic_macs
from forwardkit_vit_resnas.reproduction import EPOCHS, PASS_BAR, SPEC

import forwardkit
from forwardkit.reproduce.runner import run_reproduction
from forwardkit.reproduce.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT.parents[1] / "examples").glob("vit-resnas-*.yaml"))
CARD_BAR = ("Pass bar: RSR > no-skip in seed mean and searched > random mean. \"Does not reproduce\": RSR ≤ no-skip "
            "on both depths.")


def test_the_spec_is_registered_and_carries_the_cards_pass_bar() -> None:
    spec = load_spec(forwardkit.get_registry().reproductions["vit-resnas"])
    assert spec.fingerprint() == SPEC.fingerprint()
    assert spec.pass_bar == PASS_BAR and spec.pass_bar.endswith(CARD_BAR)
    rsr, search = spec.conditions
    assert rsr.kind == "any" and [(c.method, c.baseline, c.test) for c in rsr.conditions] == [
        ("rsr_d2", "noskip_d2", "superiority"), ("rsr_d4", "noskip_d4", "superiority")]
    assert (search.kind, search.figure.arm, search.figure.metric, search.op, search.value) == (
        "threshold", "setup_b", "search_gain", ">", 0.0)
    assert spec.seeds == [0, 1, 2] and spec.paired and spec.headline == 0


def test_setup_a_arms_share_data_recipe_and_budget_and_differ_in_one_thing() -> None:
    arms = [a for a in SPEC.arms if SPEC.program(a) is None]
    assert arms == ["rsr_d2", "noskip_d2", "single_d2", "rsr_d4", "noskip_d4", "single_d4"]
    exps = {a: forwardkit.config.validate_experiment(SPEC.experiment(a, 0)) for a in arms}
    for a, exp in exps.items():
        assert exp.trainer.epochs == EPOCHS == 8 and exp.trainer.batch_size == 128, a
        assert exp.data == exps["rsr_d2"].data and exp.learning_rule == exps["rsr_d2"].learning_rule, a
        assert exp.model.config.img_size == 32 and exp.model.config.patch == 4, a
    for d in (2, 4):
        rsr, noskip, single = (exps[f"{k}_d{d}"].model.config for k in ("rsr", "noskip", "single"))
        assert rsr.residual_sr and not noskip.residual_sr
        assert rsr.model_copy(update={"residual_sr": False}) == noskip
        assert len(single.dims) == 1 and single.depths == [3 * d] and rsr.depths == [d] * 3
        macs = analytic_macs(rsr.model_copy(update={"in_channels": 1}))
        assert analytic_macs(noskip.model_copy(update={"in_channels": 1})) == macs
        assert 0.9 < analytic_macs(single.model_copy(update={"in_channels": 1})) / macs <= 1.0  # ~equal MACs


def test_setup_b_runs_the_cards_budget() -> None:
    path, config = SPEC.program_config("setup_b")
    assert path == "forwardkit_vit_resnas.pipeline:setup_b"
    assert (config["supernet_epochs"], config["standalone_epochs"], config["examples_per_arch"]) == (20, 15, 16)
    assert (config["rank_subnets"], config["random_subnets"], config["search"]["budget_fraction"]) == (6, 3, 0.5)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_smoke_reproduction_runs_every_arm() -> None:
    threads = torch.get_num_threads()
    try:
        out = run_reproduction(SPEC, slug="vit-resnas", out_dir=None, seeds=[0], smoke=True, workers=1, verbose=False)
    finally:
        torch.set_num_threads(threads)
    assert set(out["arms"]) == set(SPEC.arms)
    assert out["verdict"]["outcome"] == "inconclusive"  # one seed decides nothing
    figures = out["arms"]["setup_b"]["final"][0]
    assert {"search_gain", "tau_multi", "tau_single", "searched_macs", "search_seconds"} <= set(figures)
    assert figures["search_gain"] == figures["searched_accuracy"] - figures["random_accuracy"]
    assert figures["searched_macs"] <= figures["budget_macs"] == 0.5 * figures["largest_macs"]
    assert all(out["arms"][a]["steps"] == [2] for a in SPEC.arms if a != "setup_b")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_example_experiment_validates(path: Path) -> None:
    exp = forwardkit.config.validate_experiment(yaml.safe_load(path.read_text()))
    assert exp.model.name == "vit_res_supernet"
    assert [c.name for c in exp.callbacks] == ["multi_arch_sampling"]
    assert [c.name for c in exp.compressors] == ["evolutionary_search"]
    assert exp.trainer.epochs == 20 and exp.callbacks[0].config.examples_per_arch == 16


def test_the_cards_miniature_is_the_default_vit_res() -> None:
    cfg = ViTResConfig()
    assert (cfg.img_size, cfg.patch, cfg.dims, cfg.depths, cfg.heads, cfg.mlp_ratio, cfg.drop_path) == (
        32, 4, [48, 96, 192], [2, 2, 2], [2, 4, 8], 4.0, 0.1)
    assert cfg.token_mixer.name == "attention" and cfg.residual_sr
