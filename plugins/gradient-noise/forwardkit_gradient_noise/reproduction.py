"""The miniature reproduction of the paper's MNIST deep-MLP experiment (Sec. 4.1, Table 1, Exp. 6).

A 20 x 50 plain ReLU MLP with every weight zero ("Bad Init"), plain SGD (lr 0.1, no momentum) and
gradient-norm clipping at 10 on 5000 real MNIST digits: without noise every hidden activation and
gradient stays exactly 0 and only the output bias learns (chance accuracy); with annealed gradient
noise (eta = 0.01, gamma = 0.55) the noise breaks the symmetry and the network can train. The other
arms repeat the comparison with the paper's "Simple Init" N(0, 0.1^2) without clipping (Exp. 1) and
with He init plus clipping (Exp. 5), where the paper reports a smaller or no gain, the zero-init pair at
lr 0.01 (the paper averages lr 0.1 and 0.01), and zero init with eta = 1.0 (the paper's value for its
other tasks). Only ``baseline`` vs ``method`` decides the verdict; the other arms are reported.

Choices the paper leaves open (ours, fixed before any full run): batch 100, 17 epochs of 3500 training
digits (595 steps), biases initialised to 0, pixels scaled to [0, 1], 500 validation and 1000 test digits.
"""

from __future__ import annotations

from typing import Any

from forwardkit.reproduce.spec import ReproductionSpec

NOISE: dict[str, Any] = {"name": "annealed_gradient_noise", "eta": 0.01, "gamma": 0.55}
NOISE_ETA1: dict[str, Any] = {**NOISE, "eta": 1.0}
LR001: dict[str, Any] = {"learning_rule": {"lr": 0.01}}

BASE: dict[str, Any] = {
    "data": {"name": "mnist5k", "normalize": "unit", "val_fraction": 0.1, "test_fraction": 0.2, "seed": 0},
    "model": {"name": "deep_relu_mlp", "depth": 20, "width": 50, "init": "zero"},
    "learning_rule": {"name": "backprop", "optimizer": "sgd", "lr": 0.1, "momentum": 0.0, "grad_clip_norm": 10.0},
    "callbacks": [],
    "trainer": {"epochs": 17, "batch_size": 100, "eval_every": 0, "log_every": 1000, "checkpoint_every": 0,
                "plots": False},
}

SIMPLE: dict[str, Any] = {"model": {"init": "simple", "init_std": 0.1}, "learning_rule": {"grad_clip_norm": None}}
HE: dict[str, Any] = {"model": {"init": "he"}}

SPEC = ReproductionSpec(
    paper="Adding Gradient Noise Improves Learning for Very Deep Networks",
    arxiv="1511.06807",
    claim="With every weight initialised to zero (plus gradient clipping at 10), a 20-layer x 50-unit ReLU MLP "
    "trained by plain SGD stays at chance on MNIST, while adding annealed Gaussian gradient noise "
    "(variance 0.01/(1+t)^0.55) lets it learn.",
    paper_result="Table 1, Exp. 6 (zero init + clip 10, 40 runs): best/average test accuracy 11.4/10.1 % without "
    "noise vs 94.5/49.7 % with noise (average over lr 0.1 and 0.01).",
    base=BASE,
    arms={
        "baseline": {},
        "method": {"callbacks": [NOISE]},
        "method_eta1": {"callbacks": [NOISE_ETA1]},
        "baseline_lr001": LR001,
        "method_lr001": {**LR001, "callbacks": [NOISE]},
        "simple": SIMPLE,
        "simple_noise": {**SIMPLE, "callbacks": [NOISE]},
        "he": HE,
        "he_noise": {**HE, "callbacks": [NOISE]},
    },
    baseline_arm="baseline",
    method_arm="method",
    metric="test/accuracy",
    direction="higher",
    min_effect=0.35,
    seeds=[0, 1, 2, 3, 4],
    smoke={"trainer": {"epochs": 1, "max_steps": 3}},
    expected_minutes=3.0,
)
