"""The miniature reproduction of the PFN's GP experiment (card "Miniature reproduction"; paper sec. 5.1, Fig. 3).

One experiment arm, ``pfn``: a PFN trained only on datasets from a 1-D GP prior (x ~ U[0, 1], outputscale 1.0,
lengthscale 0.2, noise variance 0.01; 50 points per dataset, up to 40 training points), 100 buckets placed from a
100k-sample prior draw with full-support tails, d_model 128, 4 layers, 4 heads, d_ff 256, AdamW 1e-3 with 10 %
linear warm-up and cosine decay, 2,500 steps of 16 datasets (the card: 64; see the deviations), gradient clipping
1.0. At the end the ``gp_posterior_reference`` analyzer scores it on the seed's 2,000 fresh test datasets against
the exact GP posterior predictive with the true hyper-parameters (the target), the prior predictive N(0, 1 + 0.01)
(the floor) and a GP with the wrong lengthscale 0.05 (exploratory), for n_train in {0, 1, 2, 5, 10, 20, 40}: the
first n points of a dataset are its training set, its last 10 points the queries. Its figures ``gap/n<n>`` =
NLL(PFN) - NLL(GP), ``nll_prior/n<n>`` and ``nll_pfn/n<n>`` (nats, mean over the 2,000 x 10 queries) are what the
conditions read.
"""

from __future__ import annotations

from typing import Any

from forwardkit.reproduce.spec import ReproductionSpec

GP: dict[str, Any] = {"noise": 0.01, "outputscale": 1.0, "lengthscale": 0.2}
N_TRAIN: list[int] = [0, 1, 2, 5, 10, 20, 40]
ANALYZER = "gp_posterior_reference"
STEPS = 2500
#: datasets per step: the card's 64 cut to 16 so that three seeds fit the shared 2-core machine (see DEVIATIONS)
BATCH = 16


#: a figure of the analyzer, e.g. ``analysis/gp_posterior_reference/gap/n5``
def figure(key: str, n: int) -> str:
    return f"analysis/{ANALYZER}/{key}/n{n}"


BASE: dict[str, Any] = {
    "data": {"name": "gp_prior", "num_features": 1, **GP, "seq_len": 50, "max_train_points": 40,
             "n_train_datasets": STEPS * BATCH, "n_val_datasets": 64, "n_test_datasets": 2000},
    "model": {"name": "pfn_transformer", "d_model": 128, "n_layers": 4, "n_heads": 4, "d_ff": 256,
              "num_buckets": 100, "attention": "split"},
    "learning_rule": {"name": "prior_fitting_rule", "lr": 1e-3, "warmup_fraction": 0.1, "schedule": "cosine",
                      "grad_clip": 1.0, "max_train_points": 40, "eval_pos_sampler": "weighted"},
    "analyzers": [{"name": ANALYZER, **GP, "wrong_lengthscale": 0.05, "n_train": N_TRAIN, "num_queries": 10}],
    "trainer": {"task": {"name": "bar_distribution", "num_buckets": 100, "borders": "from_prior_sample",
                         "full_support": True, "prior_sample_size": 100_000},
                "epochs": 1, "max_steps": STEPS, "batch_size": BATCH, "eval_batch_size": 500, "eval_every": 0,
                "checkpoint_every": 0, "log_every": 100, "plots": False},
}

PASS_BAR = (
    "Prediction: NLL(PFN) - NLL(GP) small (paper: visually indistinguishable). Pass bar: gap <= 0.1 nats for every "
    "n_train <= 20 and <= 0.2 at 40, and PFN far below the prior baseline. \"Does not reproduce\": gap > 0.3 nats "
    "at n_train >= 5 after the full budget."
)

#: the card names no failure for n_train < 5: a bar no gap reaches, so those conditions never decide alone
NO_FAILURE = 100.0
#: "far below the prior baseline": at least this many nats below the prior predictive at every n_train >= 5
FAR_BELOW = 1.0


def _gap(n: int, value: float, fail: float, label: str) -> dict[str, Any]:
    return {"kind": "threshold", "figure": {"arm": "pfn", "metric": figure("gap", n)}, "op": "<=", "value": value,
            "fail_value": fail, "label": label}


CONDITIONS: list[dict[str, Any]] = [
    *[_gap(n, 0.1, NO_FAILURE, f"gap <= 0.1 nats at n_train = {n} (every n_train <= 20; the card names no "
           "failure below n_train = 5)") for n in (0, 1, 2)],
    *[_gap(n, 0.1, 0.3, f"gap <= 0.1 nats at n_train = {n} (every n_train <= 20); does not reproduce: gap > 0.3 "
           "nats at n_train >= 5") for n in (5, 10, 20)],
    _gap(40, 0.2, 0.3, "and <= 0.2 at 40; does not reproduce: gap > 0.3 nats at n_train >= 5"),
    *[{"kind": "threshold",
       "figure": {"arm": "pfn", "metric": figure("nll_prior", n), "minus": {"metric": figure("nll_pfn", n)}},
       "op": ">=", "value": FAR_BELOW, "fail_value": 0.0,
       "label": f"and PFN far below the prior baseline: NLL(prior) - NLL(PFN) >= {FAR_BELOW:g} nat at n_train = {n} "
                "(fails only if the PFN is not below the prior at all)"} for n in (5, 10, 20, 40)],
]

SPEC = ReproductionSpec(
    paper="Transformers Can Do Bayesian Inference",
    arxiv="2112.10510",
    claim="A PFN trained only on samples from a GP prior near-perfectly mimics the exact GP posterior predictive: "
    "one forward pass on a new dataset gives (almost) the NLL of exact GP inference with the true "
    "hyper-parameters, far better than the prior predictive.",
    paper_result="Fig. 3 and sec. 5.1: the PFN's posterior predictive is visually indistinguishable from the exact "
    "GP's, and its NLL approaches the GP's as the number of training examples grows (no exact gap in nats is "
    "quoted on the card).",
    pass_bar=PASS_BAR,
    deviations=[
        "Budget: 2,500 steps (the card's number, with its 10 % warm-up and cosine schedule over them) of 16 "
        "datasets each instead of 64, i.e. 40,000 prior datasets per seed instead of 160,000. The card estimates "
        "2-3 min for its budget; measured here (one torch thread on the shared 2-core machine) a step of 64 "
        "datasets costs 0.22-0.35 s, about 13 min per seed and 40 min for 3 seeds, over the project's 8-10 "
        "CPU-minutes for a full run. A step of 16 costs about 0.06-0.09 s. The step count and schedule are kept "
        "and the batch cut, because fewer larger steps would also shorten the warm-up and the decay. This was fixed "
        "before the first full run, from timings of untrained models only.",
        "The training forward uses the model's attention='split' (train->train self-attention plus query->(train, "
        "self) attention): the same outputs as the paper-literal masked attention (tests/test_model.py checks "
        "they agree to 1e-5), about a third cheaper at T = 50 here. Batches with per-dataset eval_pos (the test "
        "split) run the masked form.",
        "Seeds vary the data (seed_data): each seed trains on its own 160,000 prior datasets and is scored on its "
        "own 2,000 test datasets; the exact GP, the prior predictive and the wrong-lengthscale GP are computed on "
        "the same datasets as the PFN in that seed, so each gap is paired within its seed.",
        "Evaluation layout: for each n_train the first n points of a test dataset are the training set and its last "
        "10 points the queries (points n..39 are unused), so every n_train is scored on the same 10 queries of the "
        "same datasets.",
        f"'PFN far below the prior baseline' has no number on the card: it is read as NLL(prior) - NLL(PFN) >= "
        f"{FAR_BELOW:g} nat at every n_train >= 5, failing only when the PFN is not below the prior at all "
        "(fail_value 0). The bar was set from the target alone, before any PFN was trained: on these datasets the "
        "exact GP is 1.34 nats below the prior at n_train = 5 and 2.2 at 40.",
        f"The card's 'does not reproduce' names only n_train >= 5 (gap > 0.3 nats): conditions at n_train 0, 1, 2 "
        f"pass at 0.1 and fail only beyond {NO_FAILURE:g} nats (never decide alone). The wrong-lengthscale GP (0.05) "
        "is reported in the analysis numbers, not judged.",
        "Training: AdamW (weight decay 0, i.e. Adam) at the card's 1e-3 with 10 % warm-up, not the official default "
        "learning-rate formula; one eval position s per batch from the weighted sampler over 0..40 (T = 50).",
    ],
    base=BASE,
    arms={"pfn": {}},
    conditions=CONDITIONS,
    headline=5,
    metric=figure("gap", 20),
    direction="lower",
    seeds=[0, 1, 2],
    seed_data=True,
    smoke={"data": {"n_train_datasets": 64, "n_val_datasets": 8, "n_test_datasets": 32},
           "model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 16},
           "trainer": {"max_steps": 3, "batch_size": 16, "eval_batch_size": 16,
                       "task": {"prior_sample_size": 5000}}},
    expected_minutes=15.0,
)
