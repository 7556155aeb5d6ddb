"""The reproduction spec carries the card's pass bar and its six arms; a smoke arm trains and analyses its routing;
the sizes program reports the paper's parameter counts; the example experiments validate and build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from forwardkit_widenet.reproduction import ARM_MODELS, SPEC

import forwardkit
from forwardkit.config import validate_experiment
from forwardkit.config.files import load_yaml
from forwardkit.reproduce.runner import run_one, run_program
from forwardkit.reproduce.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_the_spec_is_declared_with_the_cards_pass_bar_and_arms() -> None:
    spec = load_spec(forwardkit.get_registry().reproductions["widenet"])
    assert spec.fingerprint() == SPEC.fingerprint()
    assert "more than one pooled std" in spec.pass_bar and "Does not reproduce" in spec.pass_bar
    pairs = [(c.kind, c.method, c.baseline, c.test, c.k) for c in spec.conditions]  # type: ignore[union-attr]
    assert pairs == [("std_rule", "widenet", "albert", "beats", 1.0),
                     ("std_rule", "widenet", "widenet_shared_norms", "beats", 1.0),
                     ("std_rule", "widenet", "shared_dense", "beats", 1e-9)]
    assert spec.seeds == [0, 1, 2] and set(spec.arms) == {*ARM_MODELS, "sizes"}


def test_every_arm_is_the_same_recipe_but_its_sharing_and_ffn() -> None:
    exps = {a: validate_experiment(SPEC.experiment(a, 0)) for a in ARM_MODELS}
    for arm, exp in exps.items():
        validate_experiment(SPEC.experiment(arm, 0, smoke=True))
        assert exp.data == exps["vit"].data and exp.learning_rule == exps["vit"].learning_rule, arm
        assert exp.trainer.epochs == 10 and exp.trainer.batch_size == 128, arm
        cfg: Any = exp.model.config
        assert (cfg.depth, cfg.dim, cfg.heads, cfg.num_experts, cfg.top_k) == (6, 64, 4, 4, 2), arm
    configs: dict[str, Any] = {a: e.model.config for a, e in exps.items()}
    flags = {a: (c.ffn, c.share_attention, c.share_ffn, c.share_norms) for a, c in configs.items()}
    assert flags == {"vit": ("dense", False, False, False), "albert": ("dense", True, True, True),
                     "shared_dense": ("dense", True, True, False), "widenet": ("moe", True, True, False),
                     "widenet_shared_norms": ("moe", True, True, True), "vit_moe": ("moe", False, False, False)}


def test_a_smoke_arm_trains_with_the_aux_loss_and_reports_its_routing() -> None:
    torch.manual_seed(0)
    result = run_one(SPEC.experiment("widenet", 0, smoke=True), threads=1)
    final = result["final"]
    assert result["steps"] == 2 and 0.0 <= final["test/accuracy"] <= 1.0
    assert final["analysis/expert_load/calls"] == 6
    assert 0.0 <= final["analysis/expert_load/load_entropy"] <= 1.0
    assert final["analysis/expert_load/dropped_rate"] == 0.0


def test_the_sizes_program_counts_every_arm_and_the_papers_models() -> None:
    path, config = SPEC.program_config("sizes", smoke=True)
    figures = run_program(path, config, 0, True, threads=1)["final"]
    block = {arm: figures[f"{arm}/block_parameters"] for arm in ARM_MODELS}
    assert block["albert"] < block["shared_dense"] < block["widenet"] < block["vit"] < block["vit_moe"]
    assert block["widenet"] / block["vit"] < 0.75  # one attention + 4 experts against 6 blocks
    assert figures["widenet/macs_per_token"] > figures["shared_dense/macs_per_token"]  # top-2: twice the FFN
    assert int(figures["widenet_b/parameters"] / 1e6) == 29 and int(figures["vit_b/parameters"] / 1e6) == 87


def test_the_examples_validate_and_build() -> None:
    for name, shape in (("widenet-mnist.yaml", (2, 28, 28, 1)), ("widenet-adapter-digits.yaml", (2, 8, 8, 1))):
        data = load_yaml((EXAMPLES / name).read_text())
        exp = validate_experiment(data)
        spec = {**data["model"], "in_channels": 1, "num_classes": 10}
        spec.update({"input_size": list(shape[1:3])} if spec["name"] == "metaformer" else
                    {"image_size": list(shape[1:3])})
        model = forwardkit.build_model(spec)
        for adapter in exp.adapters:
            model = forwardkit.create("adapter", adapter.name, adapter.config).apply(model)
        assert model(torch.randn(*shape)).shape == (2, 10), name
