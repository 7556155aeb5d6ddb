"""Multi-stage experiments: stages in order, weights carried (parts of them), freezing, resume inside a stage."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import yaml
from safetensors.torch import load_file

from forwardkit.config.stages import MultiStageExperiment, validate_stages
from forwardkit.engine.stages import run_stages, select
from forwardkit.engine.trainer import Trainer
from forwardkit.errors import ConfigError, ForwardkitError

PIPELINE = {
    "name": "pp",
    "seed": 3,
    "base": {"data": {"name": "blobs", "n_samples": 400, "num_classes": 4},
             "model": {"name": "mlp", "hidden": [32, 16]},
             "learning_rule": {"name": "backprop", "lr": 0.01},
             "trainer": {"epochs": 2, "batch_size": 32, "progress": "none", "plots": False}},
    "stages": [
        {"name": "pretrain"},
        {"name": "probe", "freeze": ["net.0.*", "net.2.*"], "learning_rule": {"lr": 0.05},
         "trainer": {"epochs": 1}, "callbacks": ["lr_monitor"]},
        {"name": "finetune", "carry": {"exclude": ["net.4"]}, "trainer": {"epochs": 1, "checkpoint_every_steps": 5}},
    ],
}


def test_stages_inherit_the_recipe_and_own_their_callbacks():
    spec, exps = validate_stages(PIPELINE)
    assert [e.name for e in exps] == ["pp-pretrain", "pp-probe", "pp-finetune"]
    assert exps[1].learning_rule.config.lr == 0.05 and exps[2].learning_rule.config.lr == 0.05  # carried on
    assert exps[0].trainer.epochs == 2 and exps[1].trainer.epochs == 1 and exps[1].trainer.batch_size == 32
    assert [c.name for c in exps[1].callbacks] == ["lr_monitor"] and exps[2].callbacks == []  # per stage
    assert spec.carry_source(0) is None and spec.carry_source(2) == 1
    other = {**PIPELINE, "stages": [{"name": "a"}, {"name": "b", "model": {"name": "resnet"}}]}
    assert validate_stages(other)[1][1].model.name == "resnet"  # another model: none of the old fields


def test_errors_name_the_stage_and_field():
    bad = {**PIPELINE, "stages": [{"name": "a", "trainer": {"epochs": -1}}, {"name": "b", "model": {"hiden": [4]}}]}
    with pytest.raises(ConfigError) as err:
        validate_stages(bad)
    locs = {i.loc for i in err.value.issues}
    assert "stages.0.trainer.epochs" in locs and "stages.1.model" in locs
    with pytest.raises(ConfigError, match="not an earlier stage"):
        validate_stages({**PIPELINE, "stages": [{"name": "a"}, {"name": "b", "carry": {"source": "c"}}]})
    with pytest.raises(ConfigError, match="unique"):
        validate_stages({**PIPELINE, "stages": [{"name": "a"}, {"name": "a"}]})
    assert isinstance(MultiStageExperiment.model_validate(PIPELINE), MultiStageExperiment)


def test_select_takes_prefixes():
    state = {"layers.0.weight": 1, "layers.0.bias": 2, "layers.4.weight": 3, "layers.40.weight": 4}
    from forwardkit.config.stages import CarryConfig

    assert set(select(state, CarryConfig(exclude=["layers.4"]))) == {"layers.0.weight", "layers.0.bias",
                                                                     "layers.40.weight"}
    assert set(select(state, CarryConfig(include=["layers.0"]))) == {"layers.0.weight", "layers.0.bias"}


def test_a_run_carries_freezes_and_writes_one_folder_per_stage(tmp_path):
    result = run_stages(PIPELINE, run_dir=tmp_path / "run")
    root = tmp_path / "run"
    assert sorted(p.name for p in root.iterdir()) == ["00-pretrain", "01-probe", "02-finetune", "stages.json",
                                                      "summary.json"]
    pre, probe = (load_file(str(root / f / "final" / "model.safetensors")) for f in ("00-pretrain", "01-probe"))
    for key in ("net.0.weight", "net.2.bias"):  # frozen in the probe: unchanged from pre-training
        assert torch.equal(pre[key], probe[key]), key
    assert not torch.equal(pre["net.4.weight"], probe["net.4.weight"])  # the head was trained
    summary = json.loads((root / "summary.json").read_text())
    assert set(summary["stages"]) == {"pretrain", "probe", "finetune"}
    assert "probe/test/accuracy" in result.final and result.final == summary["final"]
    # in memory, the same numbers
    again = run_stages(PIPELINE, write=False)
    assert again.final["finetune/test/accuracy"] == result.final["finetune/test/accuracy"]


def test_carried_weights_must_fit():
    bad = {**PIPELINE, "stages": [{"name": "a", "trainer": {"epochs": 1}},
                                  {"name": "b", "model": {"hidden": [8]}, "trainer": {"epochs": 1}}]}
    with pytest.raises(ForwardkitError, match=r"other shape: net\.0\.bias"):
        run_stages(bad, write=False)
    with pytest.raises(ForwardkitError, match="matches no parameter"):
        run_stages({**PIPELINE, "stages": [{"name": "a", "freeze": ["nothing.*"]}]}, write=False)


def test_resume_inside_a_stage_ends_like_the_uninterrupted_run(tmp_path):
    class Interrupted(Exception):
        pass

    original = Trainer.save_checkpoint

    def crash(self, epoch, batch_in_epoch, **kwargs):
        path = original(self, epoch, batch_in_epoch, **kwargs)
        if self.experiment.name == "pp-finetune" and self.ctx.step == 5:
            raise Interrupted
        return path

    full = run_stages(PIPELINE, run_dir=tmp_path / "full")
    Trainer.save_checkpoint = crash
    try:
        with pytest.raises(Interrupted):
            run_stages(PIPELINE, run_dir=tmp_path / "cut")
    finally:
        Trainer.save_checkpoint = original
    assert not (tmp_path / "cut" / "02-finetune" / "summary.json").exists()
    resumed = run_stages(PIPELINE, run_dir=tmp_path / "cut", resume=True)
    assert resumed.final == {k: v for k, v in full.final.items()} or all(
        resumed.final[k] == full.final[k] for k in full.final if "accuracy" in k or "loss" in k)
    a, b = (load_file(str(tmp_path / r / "02-finetune" / "final" / "model.safetensors")) for r in ("full", "cut"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ForwardkitError, match="different multi-stage experiment"):
        run_stages({**PIPELINE, "seed": 4}, run_dir=tmp_path / "cut", resume=True)


def test_the_cli_runs_and_validates_a_multi_stage_file(tmp_path):
    path = tmp_path / "stages.yaml"
    small = {**PIPELINE, "stages": [{"name": "pretrain", "trainer": {"epochs": 1}},
                                    {"name": "probe", "freeze": ["net.0.*"], "trainer": {"epochs": 1}}]}
    path.write_text(yaml.safe_dump(small))
    ok = subprocess.run([sys.executable, "-m", "forwardkit", "validate", str(path)], capture_output=True, text=True)
    assert ok.returncode == 0 and "2 stages: pretrain, probe" in ok.stdout
    run = subprocess.run([sys.executable, "-m", "forwardkit", "run", str(path), "--run-dir", str(tmp_path / "r"),
                          "--quiet"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "r" / "01-probe" / "final" / "model.safetensors").is_file()
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**small, "stages": [{"name": "a", "trainer": {"epochs": "x"}}]}))
    out = subprocess.run([sys.executable, "-m", "forwardkit", "validate", str(bad)], capture_output=True, text=True)
    assert out.returncode == 2 and "stages.0.trainer.epochs" in out.stderr + out.stdout
    assert "Traceback" not in out.stderr
