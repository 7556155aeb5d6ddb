"""``trainer.paired``: rows of a second split join every training batch (domain adaptation, semi-supervised).

The rows of step t depend on (seed, t) only, every row comes once per pass, labels can be left out, the
kit accepts an unlabelled split's -1 labels, and a run interrupted mid-epoch resumes bit-identically.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch

from forwardkit.config import ComponentConfig
from forwardkit.data import InMemoryDataset, TensorSplit
from forwardkit.engine.checkpoint import experiment_fingerprint
from forwardkit.engine.data import paired_indices, take_rows
from forwardkit.engine.trainer import Trainer
from forwardkit.errors import ConfigError
from forwardkit.interfaces import LearningRule
from forwardkit.registry import Registry
from forwardkit.testing.checks import check_dataset_items

from .conftest import Interrupted, final_weights, interrupted_after


class TwoDomains(InMemoryDataset):
    """Labelled 'train'/'val'/'test' rows (x = +i) and an unlabelled 'unlab' split of 13 rows (x = -1 - i)."""

    class Config(ComponentConfig):
        n_unlab: int = 13

    splits = ("train", "val", "test", "unlab")
    unlabelled_splits = ("unlab",)

    def build(self) -> tuple[dict[str, TensorSplit], dict[str, Any]]:
        def rows(n: int, sign: float, labelled: bool) -> TensorSplit:
            x = sign * torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 4) + (0.0 if sign > 0 else -1.0)
            y = torch.arange(n) % 2 if labelled else torch.full((n,), -1, dtype=torch.long)
            return TensorSplit(x, y)

        splits = {"train": rows(40, 1.0, True), "val": rows(8, 1.0, True), "test": rows(8, 1.0, True),
                  "unlab": rows(self.config.n_unlab, -1.0, False)}
        return splits, {"task": "classification", "num_classes": 2}


class Recorder(LearningRule):
    """Plain SGD on the labelled rows; records the keys and the paired rows of every batch."""

    class Config(ComponentConfig):
        lr: float = 0.05

    seen: ClassVar[list[tuple[tuple[str, ...], list[int]]]] = []

    def setup(self, model, ctx):
        self.opt = torch.optim.SGD(model.parameters(), lr=self.config.lr)

    def step(self, batch, ctx):
        rows = [int(-v - 1) for v in batch["target_x"][:, 0].tolist()] if "target_x" in batch else []
        Recorder.seen.append((tuple(sorted(batch)), rows))
        self.opt.zero_grad()
        loss = ctx.loss_fn(ctx.run_forward(batch), batch)
        # the paired rows also move the weights, so that a resume that drew other rows would differ
        if "target_x" in batch:
            loss = loss + 0.01 * ctx.model(batch["target_x"]).pow(2).mean()
        loss.backward()
        ctx.after_backward()
        if not ctx.should_stop:
            self.opt.step()
        return {"loss": float(loss.detach())}

    def state_dict(self):
        return {"opt": self.opt.state_dict()}

    def load_state_dict(self, state):
        self.opt.load_state_dict(state["opt"])


@pytest.fixture
def registry():
    reg = Registry.discover(entry_points=False)
    reg.register_class("dataset", "two_domains", TwoDomains)
    reg.register_class("learning_rule", "recorder", Recorder)
    return reg


def _exp(**paired: Any) -> dict[str, Any]:
    return {
        "name": "paired",
        "data": {"name": "two_domains"},
        "model": {"name": "mlp", "hidden": [8]},
        "learning_rule": {"name": "recorder"},
        "trainer": {"epochs": 3, "batch_size": 8, "progress": "none", "plots": False, "log_every": 1,
                    "paired": {"split": "unlab", **paired}},
        "seed": 5,
    }


def test_the_rows_are_a_pure_function_of_seed_and_step_and_cover_each_pass():
    n, b = 13, 5
    stream = [r for step in range(13) for r in paired_indices(n, batch_size=b, seed=3, step=step)]
    assert len(stream) == 65 and all(sorted(stream[k * n:(k + 1) * n]) == list(range(n)) for k in range(5))
    assert stream[:n] != stream[n:2 * n]  # every pass is its own permutation
    assert paired_indices(n, batch_size=b, seed=3, step=7) == stream[35:40]
    assert paired_indices(n, batch_size=b, seed=4, step=7) != stream[35:40]
    assert paired_indices(n, batch_size=4, seed=0, step=2, shuffle=False) == [8, 9, 10, 11]
    assert paired_indices(n, batch_size=3 * n, seed=0, step=0, shuffle=False) == list(range(n)) * 3
    both = paired_indices(n, batch_size=6, seed=1, step=2)
    assert [paired_indices(n, batch_size=6, seed=1, step=2, rank=r, world_size=2) for r in (0, 1)] == \
        [both[0::2], both[1::2]]


def test_take_rows_selects_keys_and_names_missing_ones():
    split = TensorSplit(torch.arange(6.0)[:, None], torch.arange(6), extra=torch.ones(6))
    batch = take_rows(split, [4, 1], ["x"])
    assert list(batch) == ["x"] and batch["x"].flatten().tolist() == [4.0, 1.0]
    with pytest.raises(KeyError, match="no key"):
        take_rows(split, [0], ["x", "nope"])


def test_every_batch_gets_its_steps_paired_rows_and_labels_can_stay_out(registry):
    Recorder.seen.clear()
    result = Trainer(_exp(keys=["x"], batch_size=3), write=False, registry=registry).fit()
    assert result.steps == 15 and len(Recorder.seen) == 15
    assert {keys for keys, _ in Recorder.seen} == {("target_x", "x", "y")}  # no target_y
    for step, (_, rows) in enumerate(Recorder.seen):
        assert rows == paired_indices(13, batch_size=3, seed=5, step=step)
    Recorder.seen.clear()
    Trainer(_exp(prefix="u_"), write=False, registry=registry).fit()
    assert {keys for keys, _ in Recorder.seen} == {("u_x", "u_y", "x", "y")}


def test_an_unknown_paired_split_is_a_config_error(registry):
    with pytest.raises(ConfigError, match="no split 'nope'"):
        Trainer(_exp(split="nope"), write=False, registry=registry).build()


def test_interrupted_mid_epoch_and_resumed_the_run_is_bit_identical(tmp_path, registry):
    exp = _exp(keys=["x"])
    exp["trainer"]["checkpoint_every_steps"] = 1
    Recorder.seen.clear()
    Trainer(exp, run_dir=tmp_path / "full", registry=registry).fit()
    full_rows = [rows for _, rows in Recorder.seen]
    with pytest.raises(Interrupted):
        interrupted_after(7)(exp, run_dir=tmp_path / "cut", registry=registry).fit()
    Recorder.seen.clear()
    Trainer(exp, run_dir=tmp_path / "cut", resume=True, registry=registry).fit()
    assert [rows for _, rows in Recorder.seen] == full_rows[7:]
    a, b = final_weights(tmp_path / "full"), final_weights(tmp_path / "cut")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_paired_split_is_part_of_what_a_resume_must_match():
    plain = {"data": {"name": "d"}, "trainer": {"batch_size": 8, "task": None}}
    assert experiment_fingerprint(plain) == experiment_fingerprint({**plain, "trainer": {**plain["trainer"],
                                                                                        "paired": None}})
    paired = {**plain, "trainer": {**plain["trainer"], "paired": {"split": "unlab"}}}
    assert experiment_fingerprint(paired) != experiment_fingerprint(plain)


def test_the_kit_accepts_minus_one_labels_only_in_declared_unlabelled_splits(registry):
    check_dataset_items(TwoDomains)

    class Undeclared(TwoDomains):
        unlabelled_splits = ()

    with pytest.raises(AssertionError, match="class index -1"):
        check_dataset_items(Undeclared)
