"""The builtin plugin: registers core components through the same hook as every other plugin.

This module is light (no torch): it only records import paths.
"""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registration import Paper, Registrar

_CFG = "forwardkit.builtin.config"
ATTENTION_PAPER = Paper(title="Attention Is All You Need", arxiv="1706.03762", year=2017)
METAFORMER_PAPER = Paper(title="MetaFormer Is Actually What You Need for Vision", arxiv="2111.11418", year=2022)
RESNET_PAPER = Paper(title="Deep Residual Learning for Image Recognition", arxiv="1512.03385", year=2016)


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("token_mixer", "identity", target="forwardkit.builtin.mixers:Identity", config=f"{_CFG}:IdentityConfig",
        summary="returns its input: the no-mixing floor of a MetaFormer")
    add("token_mixer", "attention", target="forwardkit.builtin.mixers:Attention", config=f"{_CFG}:AttentionConfig",
        summary="multi-head self-attention over the flattened tokens, optional causal mask",
        paper=ATTENTION_PAPER, functional="forwardkit.builtin.mixers:attention")
    add("channel_mixer", "mlp", target="forwardkit.builtin.channel:MLP", config=f"{_CFG}:MLPConfig",
        summary="two-layer per-token MLP (Linear, activation, Linear)")
    add("model", "metaformer", target="forwardkit.builtin.metaformer:MetaFormer", config=f"{_CFG}:MetaFormerConfig",
        summary="hierarchical MetaFormer backbone: per-stage token/channel mixers, downsampling, head",
        paper=METAFORMER_PAPER)
    add("model", "resnet", target="forwardkit.builtin.resnet:ResNet", config=f"{_CFG}:ResNetConfig",
        summary="CIFAR-style basic-block ResNet (depth 6n+2), width and norm options", paper=RESNET_PAPER)
    add("model", "mlp", target="forwardkit.builtin.models:MLPNet", config=f"{_CFG}:MLPNetConfig",
        summary="multilayer perceptron on flattened inputs")
    add("dataset", "blobs", target="forwardkit.builtin.data:BlobsDataset", config=f"{_CFG}:BlobsConfig",
        summary="seeded Gaussian class clusters, as vectors (d,) or smooth images (S, S, C)")
    add("dataset", "sequence", target="forwardkit.builtin.data:SequenceDataset", config=f"{_CFG}:SequenceConfig",
        summary="seeded (N, C) sequences whose target needs mixing across positions (count_compare, marked_sum)")
    _register_training(registry)


def _register_training(registry: Registrar) -> None:
    """Tasks, the backprop rule and the builtin callbacks."""
    cfg = "forwardkit.builtin.training_config"
    add = registry.add
    add("task", "classification", target="forwardkit.builtin.tasks:Classification",
        config=f"{cfg}:ClassificationConfig", summary="cross-entropy on logits; accuracy and top-k accuracy")
    add("task", "regression", target="forwardkit.builtin.tasks:Regression", config=f"{cfg}:RegressionConfig",
        summary="mean squared error; MAE")
    add("task", "forecasting", target="forwardkit.builtin.tasks:Forecasting", config=f"{cfg}:ForecastingConfig",
        summary="MSE and MAE over (horizon, variates) windows")
    add("learning_rule", "tent", target="forwardkit.builtin.tent:Tent", config=f"{cfg}:TentConfig",
        summary="test-time entropy minimisation of the normalisation layers (Tent); a test_time.rule",
        paper=Paper(title="Tent: Fully Test-Time Adaptation by Entropy Minimization", arxiv="2006.10726", year=2021))
    add("learning_rule", "backprop", target="forwardkit.builtin.backprop:Backprop", config=f"{cfg}:BackpropConfig",
        summary="backpropagation with sgd/adam/adamw, weight decay, clipping, schedules, accumulation, autocast")
    add("callback", "early_stopping", target="forwardkit.builtin.callbacks:EarlyStopping",
        config=f"{cfg}:EarlyStoppingConfig", summary="stop when a validation metric stops improving")
    add("callback", "nan_guard", target="forwardkit.builtin.callbacks:NanGuard", config=f"{cfg}:NanGuardConfig",
        summary="stop at the first non-finite loss or gradient, keeping the last good checkpoint")
    add("callback", "lr_monitor", target="forwardkit.builtin.callbacks:LRMonitor", config=f"{cfg}:LRMonitorConfig",
        summary="log the learning rate of every parameter group")
    add("callback", "keep_best", target="forwardkit.builtin.callbacks:KeepBest", config=f"{cfg}:KeepBestConfig",
        summary="keep the best-validation weights and load them when training ends (best-val checkpoint)")
    add("callback", "ema", target="forwardkit.builtin.callbacks:EMA", config=f"{cfg}:EMAConfig",
        summary="exponential moving average of the weights, evaluated instead of the raw weights (exact resume)",
        functional="forwardkit.builtin.callbacks:ema_update_")
