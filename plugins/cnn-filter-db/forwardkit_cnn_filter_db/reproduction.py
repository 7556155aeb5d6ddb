"""The miniature reproduction (torch-free): trained filters are structured, initial ones random-like.

Both arms train the same ``filter_cnn`` on mnist5k with the same data, seed and analyzers; the only
difference is the training budget (``trainer.epochs`` 0 vs 3). After training the trainer runs
``filter_quality`` and ``filter_shift`` on the final model; the metric is the normalised variance
entropy of the deepest 3x3 layer, ``analysis/filter_quality/layer3/ve_norm`` (about 1 for random filters;
that layer holds 64 x 128 = 8192 filters, so tau(N) is a reliable normaliser there, unlike the first
layer's 16 filters).
"""

from __future__ import annotations

from forwardkit.reproduce.spec import ReproductionSpec

SPEC = ReproductionSpec(
    paper="CNN Filter DB: An Empirical Investigation of Trained Convolutional Filters",
    arxiv="2203.15331",
    claim=(
        "Filter degeneration (Sec. 5): layers whose filters have a variance entropy close to that of random "
        "filters (normalised VE ~ 1) have not learned structured filters (they are flagged degenerate above 0.9); "
        "training concentrates filters on fewer principal shapes, "
        "so a trained layer's variance entropy falls clearly below random"
    ),
    paper_result=(
        "qualitative: random (untrained) filters sit at the tau(N) curve (normalised VE = 1 by construction); "
        "well-trained models' layers lie below it, and random-like layers are flagged as degenerate"
    ),
    base={
        "name": "cnn-filter-db",
        "data": {"name": "mnist5k", "seed": 0},
        "model": {"name": "filter_cnn", "width": 16},
        "learning_rule": {"name": "backprop", "optimizer": "adam", "lr": 0.003},
        "analyzers": [{"name": "filter_quality", "plots": False}, {"name": "filter_shift", "plots": False}],
        "trainer": {"epochs": 3, "batch_size": 64, "log_every": 1000},
    },
    arms={"untrained": {"trainer": {"epochs": 0}}, "trained": {}},
    baseline_arm="untrained",
    method_arm="trained",
    metric="analysis/filter_quality/layer3/ve_norm",
    direction="lower",
    min_effect=0.1,
    seeds=[0, 1, 2],
    smoke={"trainer": {"max_steps": 3, "epochs": 1}, "data": {"name": "digits"}},
    expected_minutes=3.0,
)
