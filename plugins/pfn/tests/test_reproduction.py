"""The reproduction spec carries the card's pass bar word for word and its conditions decide as the card says (on
synthetic finals); the smoke reproduction runs; the example experiment validates and trains on a tiny budget."""

from __future__ import annotations

from pathlib import Path

import pytest
from forwardkit_pfn.reproduction import N_TRAIN, SPEC, figure

import forwardkit
from forwardkit.config import load_experiment
from forwardkit.reproduce.conditions import DOES_NOT_REPRODUCE, INCONCLUSIVE, REPRODUCES
from forwardkit.reproduce.spec import load_spec
from forwardkit.testing import judge_spec, smoke_reproduction

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "pfn-gp-prior.yaml"
CARD = ("Prediction: NLL(PFN) - NLL(GP) small (paper: visually indistinguishable). Pass bar: gap <= 0.1 nats for "
        "every n_train <= 20 and <= 0.2 at 40, and PFN far below the prior baseline. \"Does not reproduce\": gap > "
        "0.3 nats at n_train >= 5 after the full budget.")


def test_the_spec_carries_the_cards_pass_bar_word_for_word():
    spec = load_spec(forwardkit.get_registry().reproductions["pfn"])
    assert spec.fingerprint() == SPEC.fingerprint()
    assert SPEC.pass_bar == CARD and SPEC.seeds == [0, 1, 2] and SPEC.seed_data
    kinds = [(c.kind, c.value, c.fail_value) for c in SPEC.conditions]
    assert kinds == [("threshold", 0.1, 100.0)] * 3 + [("threshold", 0.1, 0.3)] * 3 + [("threshold", 0.2, 0.3)] + \
        [("threshold", 1.0, 0.0)] * 4
    exp = SPEC.experiment("pfn", 0)
    assert exp["trainer"]["max_steps"] == 2500 and exp["trainer"]["batch_size"] == 16
    assert exp["data"]["n_train_datasets"] == 2500 * 16 and exp["model"]["attention"] == "split"
    assert exp["data"]["lengthscale"] == 0.2 and exp["data"]["noise"] == 0.01 and exp["data"]["seq_len"] == 50
    assert exp["model"]["d_model"] == 128 and exp["learning_rule"]["lr"] == 1e-3
    assert exp["analyzers"][0]["n_train"] == N_TRAIN == [0, 1, 2, 5, 10, 20, 40]


def _finals(gaps: dict[int, float], below_prior: float = 2.0, spread: float = 0.01) -> dict[str, list[dict]]:
    seeds = []
    for j in (-1, 0, 1):
        row = {}
        for n in N_TRAIN:
            gp = 1.4 - 0.05 * n
            row[figure("gap", n)] = gaps.get(n, 0.03) + j * spread
            row[figure("nll_gp", n)] = gp
            row[figure("nll_pfn", n)] = 1.4 - below_prior + j * spread
            row[figure("nll_prior", n)] = 1.4
        seeds.append(row)
    return {"pfn": seeds}


@pytest.mark.parametrize(("gaps", "below", "outcome"), [
    ({}, 2.0, REPRODUCES),  # small gaps everywhere, far below the prior
    ({40: 0.15}, 2.0, REPRODUCES),  # n = 40 only needs <= 0.2
    ({10: 0.2}, 2.0, INCONCLUSIVE),  # above 0.1 but not above the 0.3 failure bar
    ({5: 0.5}, 2.0, DOES_NOT_REPRODUCE),  # gap > 0.3 at n_train >= 5
    ({40: 0.45}, 2.0, DOES_NOT_REPRODUCE),
    ({1: 0.8}, 2.0, INCONCLUSIVE),  # the card names no failure below n_train = 5
    ({}, 0.5, INCONCLUSIVE),  # below the prior, but not 'far' below
    ({}, -0.2, DOES_NOT_REPRODUCE),  # not below the prior at all
])
def test_the_conditions_decide_as_the_card_says(gaps, below, outcome):
    assert judge_spec(SPEC, _finals(gaps, below)).outcome == outcome


def test_smoke_reproduction_runs(tmp_path: Path):
    results = smoke_reproduction("pfn", tmp_path)
    final = results["arms"]["pfn"]["final"][0]
    assert final["steps"] == 3 and figure("gap", 20) in final and "test/nll" in final


def test_the_example_experiment_validates_and_trains_on_a_tiny_budget():
    exp = load_experiment(EXAMPLE)
    assert exp.model.name == "pfn_transformer" and exp.learning_rule is not None
    tiny = exp.to_dict()
    tiny["data"].update(n_train_datasets=32, n_val_datasets=8, n_test_datasets=16)
    tiny["model"].update(d_model=16, n_layers=1, n_heads=2, d_ff=16)
    tiny["trainer"]["task"].update(prior_sample_size=2000)
    tiny["trainer"].update(max_steps=2, batch_size=8, eval_batch_size=8, progress="none", plots=False)
    tiny["analyzers"][0].update(plot=False)
    result = forwardkit.Trainer(tiny, write=False, verbose=False).fit()
    assert result.steps == 2 and "analysis/gp_posterior_reference/gap/n40" in result.final
    assert result.final["test/nll"] > 0
