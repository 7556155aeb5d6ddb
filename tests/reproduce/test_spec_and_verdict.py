"""ReproductionSpec validation, spec loading and the verdict rule (pure, no training)."""

from __future__ import annotations

import math

import pytest

from forwardkit.errors import ConfigError, ForwardkitError
from forwardkit.reproduce.spec import ReproductionSpec, deep_merge, load_spec, parse_spec
from forwardkit.reproduce.verdict import DOES_NOT_REPRODUCE, INCONCLUSIVE, REPRODUCES, decide, summarize

GOOD = {
    "paper": "P", "claim": "c", "paper_result": "+1",
    "base": {"data": {"name": "blobs"}, "model": {"name": "mlp", "hidden": [8]}},
    "arms": {"baseline": {}, "method": {"model": {"hidden": [16]}}},
}


def issues(data):
    with pytest.raises(ConfigError) as info:
        parse_spec(data)
    return {i.loc: i.msg for i in info.value.issues}


def test_a_good_spec_has_the_documented_defaults():
    spec = parse_spec(GOOD)
    assert spec.metric == "test/accuracy" and spec.direction == "higher" and spec.seeds == [0, 1, 2]
    assert spec.smoke == {"trainer": {"max_steps": 3, "epochs": 1}}


@pytest.mark.parametrize(
    ("change", "loc", "words"),
    [
        ({"direction": "up"}, "direction", "higher"),
        ({"min_effect": -1}, "min_effect", "greater than or equal"),
        ({"seeds": []}, "seeds", "at least 1"),
        ({"seedz": [1]}, "", "did you mean 'seeds'"),
        ({"arms": {"baseline": {}, "method": 3}}, "arms.method", "dictionary"),
        ({"expected_minutes": 0}, "expected_minutes", "greater than"),
        ({"claim": None}, "claim", "string"),
    ],
)
def test_validation_errors_name_the_field(change, loc, words):
    found = issues({**GOOD, **change})
    assert loc in found, found
    assert words in found[loc], found


def test_missing_fields_and_unknown_arms_are_reported():
    found = issues({k: v for k, v in GOOD.items() if k != "base"})
    assert "base" in found and "required" in found["base"].lower()
    found = issues({**GOOD, "method_arm": "ours"})
    assert any("method_arm 'ours' is not one of the arms" in m for m in found.values())


def test_arm_experiments_deep_merge_base_arm_smoke_and_seed():
    spec = parse_spec({**GOOD, "base": {**GOOD["base"], "trainer": {"epochs": 4, "batch_size": 16}}})
    exp = spec.experiment("method", 7, smoke=True, name="x")
    assert exp["model"] == {"name": "mlp", "hidden": [16]}
    assert exp["trainer"]["epochs"] == 1 and exp["trainer"]["max_steps"] == 3 and exp["trainer"]["batch_size"] == 16
    assert exp["seed"] == 7 and exp["name"] == "x-method-s7"
    assert spec.experiment("baseline", 0)["trainer"]["epochs"] == 4
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}) == {"a": {"b": 3, "c": 2}}


def test_load_spec_from_an_object_a_mapping_and_a_packaged_yaml(tmp_path, monkeypatch):
    pkg = tmp_path / "fkspecpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(f"from forwardkit.reproduce.spec import parse_spec\nSPEC = parse_spec({GOOD!r})\n"
                                     f"RAW = {GOOD!r}\nBAD = {{**RAW, 'direction': 'sideways'}}\n")
    import yaml

    (pkg / "repro.yaml").write_text(yaml.safe_dump(GOOD))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert isinstance(load_spec("fkspecpkg:SPEC"), ReproductionSpec)
    assert load_spec("fkspecpkg:RAW") == load_spec("fkspecpkg:repro.yaml")
    with pytest.raises(ConfigError, match="direction"):
        load_spec("fkspecpkg:BAD")
    with pytest.raises(ForwardkitError, match="cannot load"):
        load_spec("fkspecpkg:MISSING")


def test_summarize_uses_the_sample_std():
    s = summarize([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["std"] == pytest.approx(1.0) and s["n"] == 3
    assert summarize([5.0])["std"] == 0.0


@pytest.mark.parametrize("direction", ["higher", "lower"])
def test_verdict_outcomes_in_both_directions(direction):
    sign = 1 if direction == "higher" else -1
    base = [0.50, 0.51, 0.49]

    def method(delta, noise=0.01):
        return [0.5 + sign * delta - noise, 0.5 + sign * delta, 0.5 + sign * delta + noise]

    v = decide(base, method(0.10), direction=direction, min_effect=0.05)
    assert v.outcome == REPRODUCES and v.effect == pytest.approx(0.10)
    assert v.spread == pytest.approx(math.hypot(0.01, 0.01))
    assert "effect +0.1" in v.reason and "bar 0.05" in v.reason and "3 seeds" in v.reason
    # clearly short of the bar, and clearly the wrong way
    assert decide(base, method(0.01), direction=direction, min_effect=0.05).outcome == DOES_NOT_REPRODUCE
    assert decide(base, method(-0.10), direction=direction, min_effect=0.0).outcome == DOES_NOT_REPRODUCE
    # spreads overlap: above the bar but within the noise, or below the bar within the noise
    assert decide(base, method(0.02, noise=0.2), direction=direction, min_effect=0.0).outcome == INCONCLUSIVE
    assert decide(base, method(0.045), direction=direction, min_effect=0.05).outcome == INCONCLUSIVE


def test_single_seed_verdicts_say_so():
    v = decide([0.5], [0.6], min_effect=0.05)
    assert v.outcome == REPRODUCES and "single seed" in v.reason and v.spread == 0.0
    assert decide([0.5], [0.52], min_effect=0.05).outcome == DOES_NOT_REPRODUCE
    assert decide([0.5], [0.4], direction="lower", min_effect=0.05).outcome == REPRODUCES


@pytest.mark.parametrize("direction", ["higher", "lower"])
def test_non_inferiority_verdicts(direction):
    sign = 1 if direction == "higher" else -1
    base = [0.90, 0.91, 0.89]

    def method(delta, noise=0.01):
        return [0.9 + sign * delta - noise, 0.9 + sign * delta, 0.9 + sign * delta + noise]

    kw = {"direction": direction, "claim": "non_inferiority", "margin": 0.05}
    v = decide(base, method(-0.02), **kw)  # a little worse, well inside the margin
    assert v.outcome == REPRODUCES and v.claim == "non_inferiority" and "non-inferior" in v.reason
    assert decide(base, method(0.03), **kw).outcome == REPRODUCES  # better is also non-inferior
    assert decide(base, method(-0.10), **kw).outcome == DOES_NOT_REPRODUCE  # clearly beyond the margin
    assert decide(base, method(-0.05, noise=0.05), **kw).outcome == INCONCLUSIVE  # at the margin, noisy
    assert decide(base, method(-0.02), direction=direction, claim="non_inferiority").outcome == DOES_NOT_REPRODUCE


def test_spec_claim_fields_and_seed_data():
    base = {"paper": "p", "claim": "c", "paper_result": "r", "base": {"data": "blobs", "model": "mlp"},
            "arms": {"baseline": {}, "method": {}}}
    with pytest.raises(ConfigError, match="margin"):
        parse_spec({**base, "claim_type": "superiority", "margin": 0.1})
    with pytest.raises(ConfigError, match="min_effect"):
        parse_spec({**base, "claim_type": "non_inferiority", "min_effect": 0.1})
    spec = parse_spec({**base, "claim_type": "non_inferiority", "margin": 0.1, "seed_data": True})
    assert spec.experiment("method", 3)["data"] == {"name": "blobs", "seed": 3}
    assert "seed" not in parse_spec(base).experiment("method", 3)["data"]


def test_paired_verdicts_use_the_spread_of_per_seed_differences():
    base = [0.70, 0.80, 0.90]  # seeds differ a lot from each other ...
    method = [0.72, 0.81, 0.92]  # ... but the method is better on every one of them
    assert decide(base, method).outcome == INCONCLUSIVE
    v = decide(base, method, paired=True)
    assert v.outcome == REPRODUCES and v.paired and "paired by seed" in v.reason
    assert v.spread == pytest.approx(summarize([0.02, 0.01, 0.02])["std"])
    with pytest.raises(ValueError, match="one value per seed"):
        decide([0.5, 0.6], [0.5], paired=True)
