"""The reproduction spec carries the card's whole pass bar; the arms are the card's variants (a)-(d) and
differ in the model's cross-token settings only; a smoke arm trains and reports the figure condition 3 reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from forwardkit_fcaformer.reproduction import EPOCHS, MASS, SPEC, VARIANTS

import forwardkit
from forwardkit.config import validate_experiment
from forwardkit.engine.trainer import Trainer
from forwardkit.reproduce.spec import load_spec


def test_the_spec_is_registered_and_transcribes_the_pass_bar() -> None:
    spec = load_spec(forwardkit.get_registry().reproductions["fcaformer"])
    assert spec.fingerprint() == SPEC.fingerprint()
    assert "Pass bar: (a) mean >= (b) mean and cross-token attention mass > 1%" in spec.pass_bar
    assert "(b) >= (a) by more than one std" in spec.pass_bar
    c1, c2, c3 = spec.conditions
    assert (c1.kind, c1.test, c1.method, c1.baseline, c1.margin) == ("compare", "non_inferiority", "fca",
                                                                      "no_cross", 0.0)
    assert (c2.kind, c2.test, c2.k, c2.std) == ("std_rule", "not_worse", 1.0, "pooled")
    assert (c3.kind, c3.figure.arm, c3.figure.metric, c3.op, c3.value) == ("threshold", "fca", MASS, ">", 0.01)
    assert spec.seeds == [0, 1, 2] and spec.paired and spec.level == 0.90
    assert list(spec.arms) == ["fca", "no_cross", "no_lsf_beta"]


def test_every_arm_has_the_same_recipe_and_differs_only_in_the_cross_tokens() -> None:
    exps = {a: validate_experiment(SPEC.experiment(a, 0)) for a in SPEC.arms}
    base = exps["fca"]
    for arm, exp in exps.items():
        validate_experiment(SPEC.experiment(arm, 0, smoke=True))
        assert exp.trainer.epochs == EPOCHS == 8 and exp.trainer.batch_size == 128
        assert exp.learning_rule == base.learning_rule and exp.data == base.data
        assert [a.name for a in exp.analyzers] == ["fca_cross_attention"]
        cfg, ref = exp.model.config.model_dump(), base.model.config.model_dump()
        changed = {k for k in cfg if cfg[k] != ref[k]}
        assert changed == set(VARIANTS[arm]), arm
    assert base.model.config.preset == "tiny" and base.model.config.grids() == [28, 14, 7, 4]


@pytest.mark.parametrize("arm", ["fca"])
def test_a_smoke_arm_trains_and_reports_the_attention_mass(arm: str, tmp_path: Path) -> None:
    exp = SPEC.experiment(arm, 0, smoke=True)
    exp["trainer"]["out_dir"] = str(tmp_path)
    result = Trainer(exp, run_dir=tmp_path / "run").fit()
    assert result.steps == 2
    assert 0.0 < result.final[MASS] < 1.0 and "test/accuracy" in result.final
