"""The miniature reproduction of S-KAN (torch-free; run by ``forwardkit reproduce s-kan``).

One program arm, ``suite`` (:func:`forwardkit_s_kan.suite.run_suite`): per seed, all seven tasks of
``kan_function_suite`` x {S-KAN (4-space pool, three phases), B-spline, Chebyshev, RBF, Fourier KANs [d, 5, 1],
parameter-matched SiLU MLP}, full-batch Adam lr 1e-2. Its figures are what the card's pass bar reads:

1. (headline) "S-KAN variability lower than every single-space KAN": ``variability_margin`` = min over the four
   single-space KANs of their variability minus S-KAN's, > 0.
2. "mean rank <= 2": ``skan_mean_rank`` (rank among the six models per task, averaged over tasks) <= 2.
3. Does-not-reproduce, first half, "S-KAN worse than the median single-space KAN on most tasks": stated as its
   negation, ``skan_worse_than_median_single`` <= 3 (of 7).
4. Does-not-reproduce, second half, "selections identical across all tasks": ``distinct_selections`` (number of
   different selection histograms over the 7 tasks) > 1.

The card's "Expected" figures (within 1.2x of the best single-space KAN on >= 5/7 tasks, better than the MLP on
>= 5/7) are reported (``skan_within_1p2_of_best_single``, ``skan_beats_mlp``) but are not part of the pass bar.
"""

from __future__ import annotations

from typing import Any

from forwardkit.reproduce.spec import ReproductionSpec

#: the card's Expected, Pass bar and Does-not-reproduce sentences, word for word (papers/s-kan.md)
PASS_BAR = (
    "Expected: S-KAN within 1.2x of the best single-space KAN on >= 5/7 tasks, lowest variability, and better "
    "than MLP on >= 5/7 tasks; selected spaces differ between tasks (e.g. Fourier for task 6, B-spline for task "
    "5). Pass bar: S-KAN variability lower than every single-space KAN and mean rank <= 2. \"Does not reproduce "
    "at this scale\": S-KAN worse than the median single-space KAN on most tasks, or selections identical across "
    "all tasks (selection not data-dependent)."
)

#: the suite's settings (card: 1000 steps, phases 600/250/150). The card's time-itself fallback (600 steps when
#: a probe projects too long) is off (probe_steps 0): decided per seed it gave seeds unequal budgets (see the
#: deviations); the measured full-budget run fits the card's 5 minutes, so every seed runs 1000 steps.
SUITE: dict[str, Any] = {
    "steps": 1000, "fallback_steps": 600, "probe_steps": 0, "budget_s": 200.0, "cost_units": 3.0,
    "lr": 1e-2, "hidden": 5, "phase_fracs": [0.6, 0.25, 0.15], "n_train": 1000, "n_test": 1000,
}

SPEC = ReproductionSpec(
    paper="Activation Space Selectable Kolmogorov-Arnold Networks",
    arxiv="2408.08338",
    claim=(
        "A KAN whose nodes select their activation space from a pool (S-KAN) is less variable across "
        "function-fitting tasks than any single-space KAN, ranks at or near the top, and beats a parameter-matched "
        "MLP on most tasks"
    ),
    paper_result=(
        "Abstract: outperforms baseline methods on seven representative function fitting tasks and significantly "
        "surpasses MLPs with the same level of parameters (the paper's numbers were not accessible)"
    ),
    pass_bar=PASS_BAR,
    deviations=[
        "Reconstruction: selection per output node, softmax weights over the pool (logits init 0, T = 1), top-1 "
        "at phase 2, phases 60/25/15% of the steps, pool {B-spline, Chebyshev, RBF, Fourier}; none of these is "
        "verified against the paper's method section (not accessible).",
        "The seven tasks are the card's choice, not the paper's (unverified).",
        "Budget: the card's 1000 full-batch steps per run for every seed. The card's rule (time a probe, drop to 600 "
        "steps if the projection exceeds its 5 minutes) is decided per seed by the suite program, so it depends on "
        "what else shares the 2 cores: in the first two full runs it gave seeds 600 / 600 / 1000 and then 1000 / "
        "1000 / 600 steps (the probes projected 1059-1193 s cold, then 144-223 s warmed up), i.e. unequal budgets "
        "between seeds. Those runs (kept in the report's history) measured a 1000-step seed at 80-130 s, so the "
        "whole run fits the card's 5 minutes on 2 workers and the rule is switched off (probe_steps 0).",
        "Mean rank is among all six models (4 single-space KANs, S-KAN, MLP); variability uses the best of the "
        "six per task.",
        "Not run: the card's optional S-ConvKAN vs matched-CNN digits comparison (one seed, optional); "
        "examples/s-kan-convkan-digits.yaml trains s_convkan_net with the phase schedule and pruning.",
    ],
    base={},
    arms={
        "suite": {"program": "forwardkit_s_kan.suite:run_suite", "config": dict(SUITE),
                  "smoke": {"tasks": [3, 5], "steps": 20, "probe_steps": 0, "n_train": 64, "n_test": 64}},
    },
    conditions=[
        {"kind": "threshold", "figure": {"arm": "suite", "metric": "variability_margin"}, "op": ">", "value": 0.0,
         "label": "S-KAN variability lower than every single-space KAN"},
        {"kind": "threshold", "figure": {"arm": "suite", "metric": "skan_mean_rank"}, "op": "<=", "value": 2.0,
         "label": "mean rank <= 2"},
        {"kind": "threshold", "figure": {"arm": "suite", "metric": "skan_worse_than_median_single"}, "op": "<=",
         "value": 3.0, "label": "not: S-KAN worse than the median single-space KAN on most tasks"},
        {"kind": "threshold", "figure": {"arm": "suite", "metric": "distinct_selections"}, "op": ">", "value": 1.0,
         "label": "not: selections identical across all tasks (selection not data-dependent)"},
    ],
    metric="variability_margin",
    expected_minutes=6.0,
)
