"""Miniature reproduction of GB-NN (card "Miniature reproduction"): on scikit-learn's digits, breast_cancer and
diabetes, GB-NN (100 hidden units grown by boosting, trained through forwardkit's trainer with the
``gradient_boosted_head`` rule) against the same 100-unit logistic network trained jointly by scikit-learn's
Adam, L-BFGS and SGD, and the truncation curves (first 10 / 25 / 50 / 75 / 100 % of the units).

Five splits (seeds 0-4, stratified for classes; 64 / 16 / 20 % train / val / test, features standardised on
train). Every arm is a program (:mod:`forwardkit_gradient_boosting_nn.experiments`): the GB-NN arms train
both etas of the card and keep the one better on val. The card's pass bar is transcribed into ``conditions``
before the first full run.
"""

from __future__ import annotations

from typing import Any

from forwardkit.reproduce.spec import ReproductionSpec

SOURCES = ("digits", "breast_cancer", "diabetes")
CLASSIFICATION = ("digits", "breast_cancer")
_PROGRAMS = "forwardkit_gradient_boosting_nn.experiments"

PASS_BAR = (
    "Expected: GB-NN within ~1 point of the best joint solver on digits/breast_cancer and comparable RMSE on "
    "diabetes; its truncation curve stays near the full-model value down to ~25-50 % of the units while baselines "
    "collapse. Pass bar: merged-net outputs equal staged outputs (< 1e-5) and GB-NN at 50 % units loses < 2 points "
    "on digits. \"Does not reproduce at this scale\": GB-NN > 3 points worse than Adam on both classification sets."
)

#: the card's GB-NN: T * J = 100 hidden units, eta in {0.1, 1.0} chosen on val, torch L-BFGS 100 iterations per stage
GBNN: dict[str, Any] = {"stages": 100, "units_per_stage": 1, "etas": [0.1, 1.0], "stage_max_iter": 100,
                        "subsample": 0.5}
GBNN_SMOKE: dict[str, Any] = {"stages": 3, "stage_max_iter": 3, "etas": [0.1]}
#: the joint baselines: scikit-learn's MLP (100 logistic units, alpha 1e-4) per solver, early-stopped on val
SOLVERS: dict[str, dict[str, Any]] = {
    "adam": {"solver": "adam"},
    "lbfgs": {"solver": "lbfgs"},
    "sgd": {"solver": "sgd", "learning_rate": 0.01},
}
JOINT_SMOKE: dict[str, Any] = {"rounds": 2, "lbfgs_chunk": 3}


def _arms() -> dict[str, dict[str, Any]]:
    arms: dict[str, dict[str, Any]] = {}
    for source in SOURCES:
        arms[f"gbnn_{source}"] = {"program": f"{_PROGRAMS}:gbnn_arm", "config": {"source": source, **GBNN},
                                  "smoke": GBNN_SMOKE}
        arms[f"gbnn_j5_{source}"] = {"program": f"{_PROGRAMS}:gbnn_arm",
                                     "config": {"source": source, **GBNN, "stages": 20, "units_per_stage": 5},
                                     "smoke": GBNN_SMOKE}
        for solver, config in SOLVERS.items():
            arms[f"{solver}_{source}"] = {"program": f"{_PROGRAMS}:joint_arm", "config": {"source": source, **config},
                                          "smoke": JOINT_SMOKE}
    return arms


TRUNCATION: dict[str, Any] = {
    "kind": "threshold", "figure": {"arm": "gbnn_digits", "metric": "trunc/drop_50"}, "op": "<", "value": 0.02,
    "label": "GB-NN at 50 % units loses < 2 points on digits",
}
MERGED: list[dict[str, Any]] = [
    {"kind": "equal", "left": {"arm": f"gbnn_{source}", "metric": "merge/max_abs_diff"}, "right": 0.0,
     "tolerance": 1e-5, "label": f"merged-net outputs equal staged outputs (< 1e-5), {source}"}
    for source in SOURCES
]
#: the card's failure sentence, negated: GB-NN not more than 3 points worse than Adam on at least one set
NOT_WORSE_THAN_ADAM: dict[str, Any] = {
    "kind": "any", "k": 1,
    "label": "not the failure 'GB-NN > 3 points worse than Adam on both classification sets'",
    "conditions": [
        {"kind": "compare", "method": f"gbnn_{source}", "baseline": f"adam_{source}", "test": "non_inferiority",
         "margin": 0.03, "label": f"GB-NN at most 3 points worse than Adam on {source}"}
        for source in CLASSIFICATION
    ],
}

SPEC = ReproductionSpec(
    paper="Sequential Training of Neural Networks with Gradient Boosting",
    arxiv="1909.12098",
    claim="Fitting the hidden units of a one-hidden-layer network in T sequential boosting stages (J units each, "
    "on the pseudo-residuals) generalises competitively with the same network trained jointly by Adam, L-BFGS or "
    "SGD; the T stages merge into one ordinary network, and switching off the last-trained units costs little "
    "accuracy.",
    paper_result="Not verified: the card's authors did not read the paper's result tables. Abstract: 'a competitive "
    "generalization performance with respect to neural networks trained with different standard solvers, such as "
    "Adam, L-BFGS, SGD'; the last-trained units can be switched off 'without a significant reduction of its "
    "generalization ability'.",
    pass_bar=PASS_BAR,
    deviations=[
        "Splits: the card's 5 stratified 80/20 splits with the validation split (for eta and early stopping) "
        "carved out of the 80 %: 64 / 16 / 20 % train / val / test, features standardised with the train "
        "statistics; the diabetes target is standardised too (test/rmse in standard deviations of the target, "
        "test/rmse_raw in its units).",
        "The conditions read the T=100, J=1 GB-NN (the official num_nn_step default); the card's second variant, "
        "T=20, J=5, runs as the exploratory gbnn_j5_* arms. Each GB-NN arm trains eta 0.1 and 1.0 and keeps the "
        "one with the better validation metric (ties: 0.1); subsample 0.5 (the official default), L2 1e-4.",
        "GB-NN runs through forwardkit's trainer: one full-batch step per stage (batch 4096 >= N, no shuffling), "
        "each stage fitted by torch L-BFGS (strong-Wolfe line search, history 10, 100 iterations, no tolerance) "
        "where the official code calls scipy's L-BFGS-B inside scikit-learn's MLPRegressor (same objective).",
        "Joint baselines are scikit-learn's MLPClassifier / MLPRegressor (100 logistic units, alpha 1e-4), "
        "early-stopped on the validation split with the best weights restored: Adam and SGD one epoch per "
        "partial_fit, patience 20, at most 500 epochs; L-BFGS 25-iteration warm-started fits, patience 4, at most "
        "20; SGD with learning_rate_init 0.01 (scikit-learn's 0.001 stalls on a plateau long enough for the "
        "patience to stop it near chance on breast_cancer), Adam at its default 0.001.",
        "Truncation of a joint net keeps the first k % of its units by index (trunc/index_*) or by largest "
        "output-weight norm (trunc/norm_*), with its output bias; GB-NN's keeps the first stages with their own "
        "biases (exactly F_t). trunc/drop_50 is the accuracy at 100 % minus at 50 % (for RMSE: at 50 % minus at "
        "100 %).",
        "merge/max_abs_diff is measured in float64 on the test rows (the merged weights as stored, against the "
        "staged ensemble's F_0 + sum rho_t h_t): the identity itself; in float32 large logits round by more than "
        "1e-5 at times (kept as merge/max_abs_diff_f32). The equal condition reads '< 1e-5' as '<= 1e-5'.",
        "The failure sentence is a condition of its own: at least one of two non-inferiority comparisons (GB-NN "
        "against Adam, margin 3 points, paired over the seeds) must hold; it fails when GB-NN's whole interval is "
        "more than 3 points below Adam on both sets, and is inconclusive when neither is decided, which can make "
        "the verdict inconclusive where the card's two-part pass bar alone would pass.",
    ],
    arms=_arms(),
    conditions=[TRUNCATION, *MERGED, NOT_WORSE_THAN_ADAM],
    metric="test/accuracy",
    direction="higher",
    seeds=[0, 1, 2, 3, 4],
    expected_minutes=6.0,
)
