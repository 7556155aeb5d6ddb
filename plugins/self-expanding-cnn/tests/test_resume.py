"""A run that grew, killed after a growth event and resumed from its checkpoint, ends bit-identical to the
uninterrupted run: weights, final metrics, the callback's log and counters, the optimizer's moments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from forwardkit import Trainer
from forwardkit.testing.resume import default_experiment


class Killed(BaseException):
    """A kill right after a checkpoint (no handler of the run catches a BaseException)."""


def killed_after(step: int) -> type[Trainer]:
    class KilledTrainer(Trainer):
        def save_checkpoint(self, epoch: int, batch_in_epoch: int, **kwargs: Any) -> Path | None:
            path = super().save_checkpoint(epoch, batch_in_epoch, **kwargs)
            if self.ctx.step == step:
                raise Killed
            return path

    return KilledTrainer


def _experiment(on_model_change: str = "keep_state") -> dict[str, Any]:
    exp = default_experiment()  # the kit's resume experiment (checkpoint every step), with this plugin's parts
    exp["data"] = {"name": "blobs", "image_size": 8, "n_samples": 120, "clusters_per_class": 2}
    exp["model"] = {"name": "expandable_cnn", "channels": [1, 2, 2], "head_channels": 2, "fc_hidden": 6}
    # a cosine schedule, so that the resumed schedule position matters too
    exp["learning_rule"] = {"name": "backprop", "optimizer": "adam", "lr": 0.01, "schedule": "cosine",
                            "on_model_change": on_model_change}
    exp["callbacks"] = [{"name": "self_expansion", "tau": 1.000001, "cooldown": 1, "subset_size": 24,
                         "channel_step": [1, 2], "channel_step_switch_after": 1}]
    exp["trainer"] = {**exp["trainer"], "epochs": 4, "test_at_end": True, "checkpoint_every_steps": 4}
    return exp


@pytest.mark.parametrize("on_model_change", ["keep_state", "reset"])
def test_a_grown_run_killed_after_an_expansion_resumes_bit_identically(tmp_path: Path, on_model_change: str) -> None:
    exp = _experiment(on_model_change)  # 84 training samples: 3 steps per epoch, checks at the ends of epochs 1 and 3
    full = Trainer(exp, run_dir=tmp_path / "full", verbose=False)
    full_result = full.fit()
    growth = full.callbacks[0]
    assert [e["epoch"] for e in growth.log] == [1, 3], "the test needs growth before and after the kill"
    with pytest.raises(Killed):
        killed_after(4)(exp, run_dir=tmp_path / "cut", verbose=False).fit()
    from forwardkit.engine import checkpoint as ckpt

    saved = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path / "cut" / "checkpoints"))
    assert saved.step == 4 and saved.state["architecture"][""] != {"channels": [1, 2, 2], "layers": [1, 1]}
    cb_state = saved.state["callbacks"][0]["state"]
    assert cb_state["expansions"] == 1 and cb_state["cooldown_left"] == 1 and "generator" in cb_state

    resumed = Trainer(exp, run_dir=tmp_path / "cut", resume=True, verbose=False)
    result = resumed.fit()
    assert resumed.model.architecture() == full.model.architecture()
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert {k: v for k, v in result.final.items() if not k.startswith("train/samples_per_s")} == \
        {k: v for k, v in full_result.final.items() if not k.startswith("train/samples_per_s")}
    assert resumed.callbacks[0].log == growth.log and resumed.callbacks[0].checks == growth.checks
    assert resumed.callbacks[0].expansions == growth.expansions
    assert torch.equal(resumed.callbacks[0].generator.get_state(), growth.generator.get_state())
    sa, sb = full.rule.optimizer.state_dict()["state"], resumed.rule.optimizer.state_dict()["state"]
    assert sa.keys() == sb.keys() and all(torch.equal(sa[i][k], sb[i][k]) for i in sa for k in sa[i])
