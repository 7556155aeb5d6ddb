"""check_test_time, the ``trains`` flag, check_stages and check_export beyond the planted bugs: the engine's
label stripping is what keeps labels from a test-time rule, a rule that adapts at test time only is skipped
by the training checks (counted, with the reason), and the declarations the checks read."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch
from torch import nn

from forwardkit.builtin.tent import Tent, entropy
from forwardkit.engine import test_time as engine
from forwardkit.interfaces.model import forward_batch
from forwardkit.testing import check_component, run_check
from forwardkit.testing.checks import checks_for
from forwardkit.testing.checks.export import onnx_missing
from forwardkit.testing.checks.rules import TEST_TIME_ONLY


class PeekingTent(Tent):
    """Minimises the entropy of the predictions, plus a pull towards whatever label key it finds."""

    label_key: ClassVar[str] = "y"

    def adapt(self, model: nn.Module, batch: Any, ctx: Any) -> Any:
        assert self.optimizer is not None
        labels = batch.get(self.label_key)
        with torch.enable_grad():
            logits = forward_batch(model, batch)
            loss = entropy(logits).mean()
            if labels is not None:
                loss = loss + torch.nn.functional.cross_entropy(logits, labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        return logits.detach()


class CopyPeekingTent(PeekingTent):
    label_key = "labels_copy"


def test_tent_passes_check_test_time_and_skips_the_training_checks() -> None:
    report = check_component("learning_rule/tent")
    assert report.ok, report.summary()
    assert report.status_of("check_test_time") == "passed"
    training = [c for c in checks_for("learning_rule") if c in ("check_learning_rule_step", "check_state_dict_plain",
                                                                 "check_resume", "check_stages")]
    assert len(training) == 4
    for check in training:
        outcome = report.get("tent", check)
        assert outcome.status == "skipped" and "adapts at test time only" in outcome.message
    assert report.skipped == 4 and report.failed == 0


def test_a_rule_that_trains_is_not_skipped_and_one_that_does_not_adapt_skips_check_test_time() -> None:
    outcome = run_check("check_test_time", "learning_rule/backprop")
    assert outcome.status == "skipped" and "does not adapt at test time" in outcome.message
    assert run_check("check_learning_rule_step", "learning_rule/backprop").status == "passed"
    assert "adapts at test time only" in TEST_TIME_ONLY


def test_the_engine_strips_the_labels_a_peeking_rule_would_read() -> None:
    assert run_check("check_test_time", PeekingTent).status == "passed"  # it never gets a 'y' to read


def test_a_leaking_engine_is_caught_by_the_target_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "unlabelled", lambda batch, task: dict(batch))
    outcome = run_check("check_test_time", PeekingTent)
    assert outcome.status == "failed"
    assert "received the target key(s) ['y']: labels are visible" in outcome.message


def test_labels_leaking_under_another_key_are_caught_by_relabelling(monkeypatch: pytest.MonkeyPatch) -> None:
    real = engine.unlabelled
    monkeypatch.setattr(engine, "unlabelled", lambda batch, task: {**real(batch, task), "labels_copy": batch["y"]})
    outcome = run_check("check_test_time", CopyPeekingTent)
    assert outcome.status == "failed"
    assert "the labels leak into the adaptation" in outcome.message


def test_conformance_test_time_pins_the_mode() -> None:
    class TransductiveTent(Tent):
        conformance_test_time: ClassVar[dict[str, Any]] = {"mode": "transductive", "episode_batches": 1}

    assert run_check("check_test_time", TransductiveTent).status == "passed"


def test_export_formats_only_for_mixers_and_models() -> None:
    class ExportingTent(Tent):
        export_formats: ClassVar[tuple[str, ...]] = ("torch",)

    outcome = run_check("check_declarations", ExportingTent)
    assert outcome.status == "failed" and "export_formats applies to" in outcome.message


def test_onnx_export_of_builtin_components() -> None:
    if onnx_missing():
        pytest.skip(f"{', '.join(onnx_missing())} not installed")
    from forwardkit.builtin.models import MLPNet

    class OnnxMLP(MLPNet):
        export_formats: ClassVar[tuple[str, ...]] = ("torch", "onnx")

    assert run_check("check_export", OnnxMLP).status == "passed"


def test_onnx_declared_without_onnxruntime_is_a_skip_after_torch_export(monkeypatch: pytest.MonkeyPatch) -> None:
    from forwardkit.builtin.models import MLPNet
    from forwardkit.testing.checks import export

    class OnnxMLP(MLPNet):
        export_formats: ClassVar[tuple[str, ...]] = ("torch", "onnx")

    monkeypatch.setattr(export, "onnx_missing", lambda: ["onnxruntime"])
    outcome = run_check("check_export", OnnxMLP)
    assert outcome.status == "skipped"
    assert "torch.export checked on 1 config(s) and matches eager" in outcome.message
    assert "onnxruntime is not installed" in outcome.message
