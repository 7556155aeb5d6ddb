"""Analyzers and compressors of an experiment: their measured numbers join the trainer's final metrics."""

from __future__ import annotations

import json
from typing import Any

import torch
from torch import nn

from forwardkit.config import ComponentConfig
from forwardkit.engine.data import iterate
from forwardkit.engine.trainer import Trainer, compression_metrics
from forwardkit.interfaces import Analysis, Analyzer, Compressor
from forwardkit.interfaces.compressor import CompressionReport, ModelFigures
from forwardkit.registry import Registry


class WeightNormConfig(ComponentConfig):
    scale: float = 1.0


class WeightNorm(Analyzer):
    """Sum of squared weights (times ``scale``) and the number of batches it was given."""

    Config = WeightNormConfig

    def analyze(self, model: nn.Module, data: Any = None) -> Analysis:
        import matplotlib.pyplot as plt

        total = sum(float(p.detach().pow(2).sum()) for p in model.parameters())
        fig = plt.figure()
        return Analysis(numbers={"sq_norm": self.config.scale * total, "batches": float(len(list(data or [])))},
                        tables={"layers": [{"name": n, "numel": p.numel()} for n, p in model.named_parameters()]},
                        figures={"empty": fig})


class HalveNothing(Compressor):
    """Reports made-up 'after' figures: half the parameters, the same bytes (enough to test the flattening)."""

    when = "after_training"

    def compress(self, model: nn.Module, data: Any = None) -> tuple[nn.Module, CompressionReport]:
        n = sum(p.numel() for p in model.parameters())
        return model, CompressionReport(ModelFigures(parameters=n, bytes=4 * n), ModelFigures(parameters=n // 2,
                                                                                             bytes=4 * n))


def _registry() -> Registry:
    reg = Registry.discover()
    reg.register_class("analyzer", "weight_norm_test", WeightNorm)
    reg.register_class("compressor", "halve_test", HalveNothing)
    return reg


def test_analyzers_and_compressors_join_final_metrics(experiment, tmp_path):
    registry = _registry()
    exp = experiment(max_steps=4)
    exp["callbacks"] = []
    exp["analyzers"] = [{"name": "weight_norm_test", "scale": 2.0}, "weight_norm_test"]
    exp["compressors"] = ["halve_test"]
    trainer = Trainer(exp, run_dir=tmp_path / "run", registry=registry, verbose=False)
    final = trainer.fit().final
    expected = sum(float(p.detach().pow(2).sum()) for p in trainer.model.parameters())
    assert abs(final["analysis/weight_norm_test/sq_norm"] - 2 * expected) < 1e-3 * expected
    assert abs(final["analysis/weight_norm_test-2/sq_norm"] - expected) < 1e-3 * expected
    assert final["analysis/weight_norm_test/batches"] >= 1
    assert abs(final["compression/halve_test/ratio/parameters"] - 0.5) < 0.01
    assert final["compression/halve_test/ratio/bytes"] == 1.0
    assert "compression/halve_test/test/accuracy" in final
    saved = tmp_path / "run" / "analysis" / "weight_norm_test"
    assert json.loads((saved / "numbers.json").read_text())["sq_norm"] == final["analysis/weight_norm_test/sq_norm"]
    assert (saved / "layers.csv").is_file() and (saved / "empty.png").is_file()


def test_compression_metrics_names_repeated_compressors():
    entry = {"name": "c", "before": {"parameters": 10, "bytes": 40, "macs": None}, "after": {"parameters": 5,
             "bytes": 20, "macs": None}}
    out = compression_metrics([entry, entry])
    assert out["compression/c/ratio/parameters"] == 0.5 and out["compression/c-2/after/bytes"] == 20.0
    assert "compression/c/before/macs" not in out and "compression/c/ratio/macs" not in out


def test_evaluation_scores_the_rules_prediction(experiment):
    from forwardkit.builtin.backprop import Backprop

    class ConstantClassRule(Backprop):
        """Backprop whose inference always answers class 0 (a rule may predict other than by a forward pass)."""

        def predict(self, model: nn.Module, batch: Any) -> Any:
            logits = torch.zeros(batch["y"].shape[0], 2)
            logits[:, 0] = 1.0
            return logits

    registry = Registry.discover()
    registry.register_class("learning_rule", "constant_class_test", ConstantClassRule)
    exp = experiment(max_steps=2)
    exp["data"] = {"name": "blobs", "n_samples": 600, "num_classes": 2}
    exp["learning_rule"] = {"name": "constant_class_test", "lr": 0.01}
    exp["callbacks"] = []
    trainer = Trainer(exp, write=False, registry=registry, verbose=False)
    final = trainer.fit().final
    y = torch.cat([b["y"] for b in iterate(trainer.dataset.split("test"), 1000)])
    assert abs(final["test/accuracy"] - float((y == 0).float().mean())) < 1e-6
