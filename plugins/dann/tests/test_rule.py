"""The dann learning rule: the paper's schedules, batch composition, target labels never read, clear errors, and
a run resumed at step k continues the same lambda / lr sequence to the same weights."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from forwardkit_dann.head import SMALL_CNN, attach_domain_head
from forwardkit_dann.rule import DANNRule, annealed_lr, domain_loss, grl_lambda, reference_gradients

import forwardkit
from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import RunContext


def test_the_schedules_are_the_papers():
    assert grl_lambda(0.0) == 0.0
    assert grl_lambda(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1) and grl_lambda(0.5) == pytest.approx(0.9866,
                                                                                                           abs=1e-4)
    assert grl_lambda(1.0) == pytest.approx(0.99991, abs=1e-5)
    assert grl_lambda(0.3, lambda_max=0.5) == pytest.approx(0.5 * grl_lambda(0.3))
    assert grl_lambda(0.0, schedule="constant") == 1.0
    assert annealed_lr(0.0) == 0.01
    assert annealed_lr(1.0) == pytest.approx(0.01 / 11**0.75) and annealed_lr(1.0) == pytest.approx(0.001656, abs=1e-6)
    rule = DANNRule(total_steps=200)
    assert [rule.lambda_at(t) for t in (0, 100, 200)] == [grl_lambda(0.0), grl_lambda(0.5), grl_lambda(1.0)]
    assert rule.lr_at(100) == annealed_lr(0.5)
    assert DANNRule(total_steps=200, anneal_lr=False).lr_at(100) == 0.01


def test_domain_labels_are_zero_for_source_rows_and_one_for_target_rows():
    logits = torch.tensor([2.0, -1.0, 0.5, 0.0, 3.0])
    loss, labels = domain_loss(logits, 2)
    assert labels.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    expected = F.binary_cross_entropy_with_logits(logits[:2], torch.zeros(2)) + \
        F.binary_cross_entropy_with_logits(logits[2:], torch.ones(3))
    torch.testing.assert_close(loss, expected)


class _Spy:
    """A loss_fn that records what it is given (the task's cross-entropy)."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[int, ...], list[str]]] = []

    def __call__(self, output: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        self.calls.append((tuple(output.shape), sorted(batch)))
        return F.cross_entropy(output, batch["y"])


def _setup(**config: Any) -> tuple[DANNRule, torch.nn.Module, RunContext, _Spy]:
    torch.manual_seed(0)
    model = attach_domain_head(forwardkit.build_model(SMALL_CNN), tap="features", hidden=[8])
    spy = _Spy()
    ctx = RunContext(model=model, loss_fn=spy, total_steps=10)
    rule = DANNRule(**config)
    rule.setup(model, ctx)
    return rule, model, ctx, spy


def _batch(n_s: int = 4, n_t: int = 6, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.rand(n_s, 16, 16, 3, generator=g), "y": torch.randint(0, 4, (n_s,), generator=g),
            "target_x": torch.rand(n_t, 16, 16, 3, generator=g)}


def test_the_label_loss_sees_the_source_rows_only_and_target_labels_are_never_read():
    rule, model, ctx, spy = _setup()
    batch = _batch()
    metrics = rule.step({**batch, "target_y": torch.full((6,), -1)}, ctx)  # -1 would break a cross-entropy
    assert spy.calls == [((4, 4), ["x", "y"])]
    assert {"loss", "label_loss", "domain_loss", "domain_accuracy", "lambda", "lr"} <= set(metrics)
    assert metrics["loss"] == pytest.approx(metrics["label_loss"] + metrics["domain_loss"])
    # the same step with NaN "labels" for the target rows, and with none: identical weights
    after = {k: v.clone() for k, v in model.state_dict().items()}
    for target_y in (torch.full((6,), float("nan")), None):
        r2, m2, c2, _ = _setup()
        extra = {} if target_y is None else {"target_y": target_y}
        r2.step({**batch, **extra}, c2)
        assert all(torch.equal(after[k], v) for k, v in m2.state_dict().items())


def test_the_first_step_has_no_adversarial_signal_and_the_lr_follows_the_schedule():
    rule, model, ctx, _ = _setup(total_steps=10)
    seen = []
    for step in range(3):
        m = rule.step(_batch(seed=step), ctx)
        seen.append((m["lambda"], m["lr"]))
    assert seen == [(grl_lambda(t / 10), annealed_lr(t / 10)) for t in range(3)]
    assert model.domain_head.grl.lambda_ == grl_lambda(0.2)
    assert rule.optimizer.param_groups[0]["momentum"] == 0.9


@pytest.mark.parametrize("weight", [1.0, 0.5])
def test_one_step_is_the_sgd_update_of_eq_13_to_15_written_out_without_the_grl(weight):
    rule, model, ctx, _ = _setup(momentum=0.0, total_steps=10, domain_loss_weight=weight)
    rule.updates = 5  # p = 0.5: lambda_p = 0.9866, mu_p = 0.01 / 6^0.75
    lam, lr = rule.lambda_at(), rule.lr_at()
    batch = _batch()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    ref = reference_gradients(model, batch, lambda out, b: F.cross_entropy(out, b["y"]), lambda_=lam,
                              domain_weight=weight)
    model.zero_grad(set_to_none=True)
    rule.step(batch, ctx)
    groups = {"backbone.features.": 0, "backbone.classifier.": 0, "domain_head.": 0}
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), before[name] - lr * ref[name], rtol=1e-5, atol=1e-7)
        groups[next(g for g in groups if name.startswith(g))] += 1
    assert all(groups.values())  # theta_f, theta_y and theta_d all checked
    # the reference's parts: theta_y gets no domain gradient, theta_d no label gradient, theta_f both
    plain = reference_gradients(model, batch, lambda out, b: F.cross_entropy(out, b["y"]), lambda_=0.0)
    assert not torch.allclose(plain["backbone.features.0.weight"], reference_gradients(
        model, batch, lambda out, b: F.cross_entropy(out, b["y"]), lambda_=1.0)["backbone.features.0.weight"])


def test_a_batch_without_target_rows_or_a_model_without_head_is_a_clear_error():
    rule, _, ctx, _ = _setup()
    with pytest.raises(ForwardkitError, match=r"trainer\.paired"):
        rule.step({"x": torch.rand(2, 16, 16, 3), "y": torch.tensor([0, 1])}, ctx)
    plain = forwardkit.build_model(SMALL_CNN)
    bare = DANNRule()
    ctx2 = RunContext(model=plain, loss_fn=_Spy(), total_steps=4)
    bare.setup(plain, ctx2)
    with pytest.raises(ForwardkitError, match="domain_adversarial_head"):
        bare.step(_batch(), ctx2)


def _experiment(tmp: Path) -> dict[str, Any]:
    exp = {**DANNRule.conformance_experiment, "name": "dann-resume", "learning_rule": {"name": "dann"}, "seed": 4}
    exp["trainer"] = {**exp["trainer"], "epochs": 2, "batch_size": 32, "progress": "none", "log_every": 1,
                      "plots": False, "checkpoint_every_steps": 1, "test_at_end": False}
    return exp


class _Stop(BaseException):
    pass


def test_resume_at_step_k_continues_the_same_schedules_to_the_same_weights(tmp_path):
    exp = _experiment(tmp_path)
    full = forwardkit.Trainer(exp, run_dir=tmp_path / "full", verbose=False)
    full.fit()

    class Interrupted(forwardkit.Trainer):
        def save_checkpoint(self, epoch, batch_in_epoch, **kwargs):
            path = super().save_checkpoint(epoch, batch_in_epoch, **kwargs)
            if self.ctx.step == 4:  # inside the second epoch (3 steps per epoch)
                raise _Stop
            return path

    with pytest.raises(_Stop):
        Interrupted(exp, run_dir=tmp_path / "cut", verbose=False).fit()
    resumed = forwardkit.Trainer(exp, run_dir=tmp_path / "cut", resume=True, verbose=False)
    resumed.fit()
    assert resumed.rule.total_steps == full.rule.total_steps == 6 and resumed.rule.updates == 6

    def schedule(run: str) -> list[tuple[int, float, float]]:
        lines = [json.loads(s) for s in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
        return [(r["step"], r["train/lambda"], r["train/lr"]) for r in lines if "train/lambda" in r]

    assert schedule("cut") == schedule("full") and len(schedule("full")) == 6
    assert schedule("full")[4][1:] == (grl_lambda(4 / 6), annealed_lr(4 / 6))
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
