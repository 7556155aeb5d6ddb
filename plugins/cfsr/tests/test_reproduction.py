"""The reproduction spec carries the card's pass bar; every trained arm has the same recipe and budget; the smoke
run goes through every arm (training, merging, whole-photo test, bicubic); the example experiment validates."""

from __future__ import annotations

from pathlib import Path

import pytest
from forwardkit_cfsr.reproduction import BATCH, PASS_BAR, SPEC, STEPS

import forwardkit
from forwardkit.config import load_experiment, validate_experiment
from forwardkit.reproduce.runner import run_reproduction
from forwardkit.reproduce.spec import load_spec

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "cfsr-sr-x2.yaml"
TRAINED = ["cfsr_tiny", "cfsr_tiny_noedge", "cfsr_tiny_k3", "cfsr_tiny_textbook", "cnn"]


def test_the_spec_is_declared_and_carries_the_cards_pass_bar() -> None:
    spec = load_spec(forwardkit.get_registry().reproductions["cfsr"])
    assert spec.fingerprint() == SPEC.fingerprint() and spec.pass_bar == PASS_BAR
    assert "Pass bar: cfsr_tiny >= CNN - 0.05 dB and k9 >= k3 - 0.05 dB" in PASS_BAR
    assert "Does not reproduce at this scale" in PASS_BAR
    kinds = [(c.kind, c.test) for c in spec.conditions]
    assert kinds == [("compare", "non_inferiority"), ("compare", "non_inferiority"), ("std_rule", "beats")]
    assert [(c.method, c.baseline) for c in spec.conditions] == [
        ("cfsr_tiny", "cnn"), ("cfsr_tiny", "cfsr_tiny_k3"), ("cfsr_tiny", "cfsr_tiny_noedge")]
    assert spec.conditions[0].margin == spec.conditions[1].margin == 0.05 and spec.conditions[2].k == 1.0
    assert spec.metric == "test/psnr" and spec.direction == "higher" and spec.seeds == [0, 1, 2] and spec.paired
    assert spec.used_arms() == ["cfsr_tiny", "cfsr_tiny_noedge", "cfsr_tiny_k3", "cnn"]


def test_every_trained_arm_has_the_same_data_recipe_and_budget() -> None:
    exps = {a: validate_experiment(SPEC.experiment(a, 0)) for a in TRAINED}
    ref = exps["cfsr_tiny"]
    for arm, exp in exps.items():
        assert exp.data == ref.data and exp.learning_rule == ref.learning_rule and exp.trainer == ref.trainer, arm
    assert ref.trainer.max_steps == STEPS == 400 and ref.trainer.batch_size == BATCH == 16
    assert ref.trainer.eval_batch_size == 1  # the whole test photos differ in size
    rule = ref.learning_rule.config
    assert (rule.optimizer, rule.lr, tuple(rule.betas)) == ("adam", 5e-4, (0.9, 0.99))
    assert ref.data.config.scale == 2 and ref.data.config.lr_patch == 24
    cfsr = {a: exps[a].model.config for a in TRAINED[:4]}
    assert cfsr["cfsr_tiny"].preset == "cfsr_tiny" and cfsr["cfsr_tiny"].dw_size == 9
    assert cfsr["cfsr_tiny_noedge"].edge_kernels == [] and cfsr["cfsr_tiny_k3"].dw_size == 3
    assert cfsr["cfsr_tiny_textbook"].kernel_variant == "textbook"
    for arm in TRAINED[:4]:  # one change per arm
        diff = {k for k, v in cfsr[arm].model_dump().items() if v != cfsr["cfsr_tiny"].model_dump()[k]}
        assert len(diff) <= 1, (arm, diff)
        assert [c.name for c in exps[arm].compressors] == ["merge_branches"]
    assert exps["cnn"].model.name == "sr_cnn" and not exps["cnn"].compressors


def test_smoke_reproduction_runs_every_arm(tmp_path: Path) -> None:
    results = run_reproduction(SPEC, slug="cfsr", out_dir=tmp_path, seeds=[0], smoke=True, workers=1,
                               verbose=False)
    assert results["smoke"] and set(results["arms"]) == set(SPEC.arms)
    for arm in TRAINED:
        final = results["arms"][arm]["final"][0]
        assert {"test/psnr", "test/ssim", "val/psnr"} <= set(final), arm
    merged = results["arms"]["cfsr_tiny"]["final"][0]
    assert merged["compression/merge_branches/test/psnr"] == pytest.approx(merged["test/psnr"], abs=1e-3)
    before, after = (merged[f"compression/merge_branches/{side}/parameters"] for side in ("before", "after"))
    assert after < before
    bicubic = results["arms"]["bicubic"]["final"][0]
    assert 25 < bicubic["test/psnr"] < 40 and 0.5 < bicubic["test/ssim"] <= 1.0
    assert (tmp_path / "report.md").is_file() and (tmp_path / "results.json").is_file()


def test_the_example_experiment_validates() -> None:
    exp = load_experiment(EXAMPLE)
    assert exp.data.name == "sr_patches" and exp.model.name == "cfsr" and exp.trainer.eval_batch_size == 1
