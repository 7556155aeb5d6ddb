"""ReproductionSpec validation and loading, the interval statistics and every condition's outcomes (pure)."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sps

from forwardkit.errors import ConfigError, ForwardkitError
from forwardkit.reproduce.conditions import (
    DOES_NOT_REPRODUCE,
    INCONCLUSIVE,
    REPRODUCES,
    AnyOf,
    Compare,
    Context,
    Equal,
    Figure,
    Monotone,
    Ratio,
    SeedCount,
    StdRule,
    Threshold,
    evaluate,
)
from forwardkit.reproduce.spec import ReproductionSpec, canonical_hash, deep_merge, load_spec, parse_spec, spec_hash
from forwardkit.reproduce.stats import mean_interval, paired_interval, pooled_sd, welch_interval
from forwardkit.reproduce.verdict import judge, summarize

GOOD = {
    "paper": "P", "claim": "c", "paper_result": "+1", "pass_bar": "the method beats the baseline",
    "base": {"data": {"name": "blobs"}, "model": {"name": "mlp", "hidden": [8]}},
    "arms": {"baseline": {}, "method": {"model": {"hidden": [16]}}},
    "conditions": [{"kind": "compare", "method": "method", "baseline": "baseline"}],
}


def issues(data):
    with pytest.raises(ConfigError) as info:
        parse_spec(data)
    return {i.loc: i.msg for i in info.value.issues}


def ctx(finals, *, metric="m", direction="higher", level=0.9, paired=True):
    """A context from ``{arm: [values]}`` (metric ``m``) or ``{arm: [final dicts]}``."""
    runs = {a: [v if isinstance(v, dict) else {metric: v} for v in vals] for a, vals in finals.items()}
    return Context(finals=runs, metric=metric, direction=direction, level=level, paired=paired)


# ---- spec ---------------------------------------------------------------------------------------------------
def test_a_good_spec_has_the_documented_defaults():
    spec = parse_spec(GOOD)
    assert spec.metric == "test/accuracy" and spec.direction == "higher" and spec.seeds == [0, 1, 2]
    assert spec.level == 0.9 and spec.paired and spec.headline == 0
    assert spec.smoke == {"trainer": {"max_steps": 3, "epochs": 1}}
    assert isinstance(spec.conditions[0], Compare) and spec.conditions[0].test == "superiority"


@pytest.mark.parametrize(
    ("change", "loc", "words"),
    [
        ({"direction": "up"}, "direction", "higher"),
        ({"seeds": []}, "seeds", "at least 1"),
        ({"seedz": [1]}, "", "did you mean 'seeds'"),
        ({"arms": {"baseline": {}, "method": 3}}, "arms.method", "dictionary"),
        ({"expected_minutes": 0}, "expected_minutes", "greater than"),
        ({"claim": None}, "claim", "string"),
        ({"pass_bar": ""}, "pass_bar", "at least 1"),
        ({"level": 0.4}, "level", "greater than 0.5"),
        ({"conditions": []}, "conditions", "at least 1"),
        ({"conditions": [{"kind": "vibes"}]}, "conditions.0", "'compare', 'std_rule'"),
        ({"conditions": [{"kind": "compare", "method": "method"}]}, "conditions.0.compare.baseline", "required"),
        ({"conditions": [{"kind": "compare", "method": "method", "baseline": "baseline", "margin": 0.1}]},
         "conditions.0.compare", "superiority uses min_effect"),
        ({"conditions": [{"kind": "compare", "method": "method", "baseline": "baseline", "test": "equivalence"}]},
         "conditions.0.compare", "needs a margin"),
        ({"conditions": [{"kind": "threshold", "figure": {"arm": "method"}, "op": "=>", "value": 1}]},
         "conditions.0.threshold.op", "'>='"),
    ],
)
def test_validation_errors_name_the_field(change, loc, words):
    found = issues({**GOOD, **change})
    assert loc in found, found
    assert words in found[loc], found


def test_unknown_arms_missing_fields_and_retired_fields_are_reported():
    found = issues({k: v for k, v in GOOD.items() if k != "pass_bar"})
    assert "pass_bar" in found and "required" in found["pass_bar"].lower()
    found = issues({**GOOD, "conditions": [{"kind": "monotone", "sequence": ["baseline", "ours"]}]})
    assert any("conditions.0 names arms that do not exist: ours" in m for m in found.values())
    found = issues({**GOOD, "method_arm": "method", "min_effect": 0.1})
    assert any("'method_arm' (a spec states its pass bar as `conditions`" in m and "'min_effect'" in m
               for m in found.values())
    found = issues({**GOOD, "headline": 3})
    assert any("headline 3 is not the index of a condition" in m for m in found.values())


def test_arm_experiments_deep_merge_base_arm_smoke_and_seed():
    spec = parse_spec({**GOOD, "base": {**GOOD["base"], "trainer": {"epochs": 4, "batch_size": 16}}})
    exp = spec.experiment("method", 7, smoke=True, name="x")
    assert exp["model"] == {"name": "mlp", "hidden": [16]}
    assert exp["trainer"]["epochs"] == 1 and exp["trainer"]["max_steps"] == 3 and exp["trainer"]["batch_size"] == 16
    assert exp["seed"] == 7 and exp["name"] == "x-method-s7"
    assert spec.experiment("baseline", 0)["trainer"]["epochs"] == 4
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}) == {"a": {"b": 3, "c": 2}}


def test_an_arm_may_carry_its_own_smoke_overrides():
    arms = {"baseline": {}, "method": {"model": {"hidden": [16]}, "smoke": {"model": {"hidden": [2]}}}}
    spec = parse_spec({**GOOD, "arms": arms})
    assert spec.experiment("method", 0)["model"]["hidden"] == [16] and "smoke" not in spec.experiment("method", 0)
    assert spec.experiment("method", 0, smoke=True)["model"]["hidden"] == [2]


def test_seed_data_sets_the_data_seed():
    spec = parse_spec({**GOOD, "base": {"data": "blobs", "model": "mlp"}, "seed_data": True})
    assert spec.experiment("method", 3)["data"] == {"name": "blobs", "seed": 3}
    assert "seed" not in parse_spec({**GOOD, "base": {"data": "blobs", "model": "mlp"}}).experiment("method", 3)["data"]


def test_program_arms_and_exploratory_arms():
    spec = parse_spec({**GOOD, "arms": {**GOOD["arms"], "zoo": {"program": "pkg.mod:study", "config": {"n": 4},
                                                                "smoke": {"n": 1}}, "extra": {}},
                       "conditions": [*GOOD["conditions"], {"kind": "threshold", "figure": {"arm": "zoo",
                                                                                            "metric": "kl"},
                                                            "op": "<", "value": 1.0}]})
    assert spec.program_config("zoo") == ("pkg.mod:study", {"n": 4})
    assert spec.program_config("zoo", smoke=True) == ("pkg.mod:study", {"n": 1})
    assert spec.used_arms() == ["baseline", "method", "zoo"]  # "extra" is exploratory
    with pytest.raises(ForwardkitError, match="program arm"):
        spec.experiment("zoo", 0)
    found = issues({**GOOD, "arms": {**GOOD["arms"], "zoo": {"program": "no colon"}}})
    assert any("arm 'zoo'" in m for m in found.values())
    found = issues({**GOOD, "base": {}})
    assert any("experiment arm but base is empty" in m for m in found.values())


def test_the_spec_hash_ignores_smoke_and_time_but_nothing_else():
    spec = parse_spec(GOOD)
    same = parse_spec({**GOOD, "smoke": {"trainer": {"max_steps": 1}}, "expected_minutes": 9})
    assert spec.fingerprint() == same.fingerprint() == spec_hash(spec.model_dump(mode="json", exclude_defaults=True))
    # a value written out at its default is the same spec; a stored full dump compares by its canonical hash
    assert parse_spec({**GOOD, "level": 0.9, "exclusive": []}).fingerprint() == spec.fingerprint()
    assert canonical_hash(spec.model_dump(mode="json"), "recorded") == spec.fingerprint()
    assert canonical_hash({"baseline_arm": "x"}, "recorded") == "recorded"
    for change in ({"pass_bar": "another bar"}, {"seeds": [0, 1, 2, 3]}, {"level": 0.95},
                   {"conditions": [{**GOOD["conditions"][0], "min_effect": 0.01}]}):
        assert parse_spec({**GOOD, **change}).fingerprint() != spec.fingerprint(), change


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


# ---- statistics ---------------------------------------------------------------------------------------------
A = [0.71, 0.80, 0.92, 0.77]
B = [0.70, 0.76, 0.90, 0.72]


def test_intervals_match_scipy():
    for level in (0.9, 0.95):
        iv = mean_interval(A, level)
        lo, hi = sps.t.interval(level, len(A) - 1, loc=sum(A) / 4, scale=sps.sem(A))
        assert (iv.low, iv.high) == pytest.approx((lo, hi))
        ref = sps.ttest_rel(A, B).confidence_interval(level)
        assert (paired_interval(A, B, level).low, paired_interval(A, B, level).high) == pytest.approx(
            (ref.low, ref.high))
        ref = sps.ttest_ind(A, B, equal_var=False).confidence_interval(level)
        iv = welch_interval(A, B, level)
        assert (iv.low, iv.high) == pytest.approx((ref.low, ref.high)) and iv.method == "Welch t"
    assert pooled_sd([1.0, 3.0], [2.0, 2.0]) == pytest.approx(1.0)


def test_interval_edge_cases():
    one = mean_interval([0.5])
    assert not one.defined and one.to_dict()["low"] is None and "no interval" in one.text()
    flat = mean_interval([0.5, 0.5, 0.5])
    assert flat.low == flat.high == 0.5
    assert not welch_interval([0.5], [0.4, 0.6]).defined
    with pytest.raises(ValueError, match="one value per seed"):
        paired_interval([0.5, 0.6], [0.5])
    with pytest.raises(ValueError):
        mean_interval([])
    with pytest.raises(ValueError, match="level"):
        mean_interval([1.0, 2.0], 1.5)


def test_summarize_gives_mean_interval_and_std():
    s = summarize([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["std"] == pytest.approx(1.0) and s["n"] == 3
    assert s["low"] == pytest.approx(2.0 - sps.t.ppf(0.95, 2) / math.sqrt(3)) and s["level"] == 0.9
    assert summarize([5.0])["low"] is None


# ---- conditions ---------------------------------------------------------------------------------------------
BASE = [0.50, 0.60, 0.70]


def shifted(delta, noise=(-0.01, 0.0, 0.01), base=BASE):
    return [b + delta + e for b, e in zip(base, noise, strict=True)]


@pytest.mark.parametrize("direction", ["higher", "lower"])
def test_superiority_in_both_directions(direction):
    s = 1 if direction == "higher" else -1
    c = Compare(method="m", baseline="b", min_effect=0.05)

    def run(delta, noise=(-0.01, 0.0, 0.01)):
        return evaluate(c, ctx({"b": BASE, "m": shifted(s * delta, noise)}, direction=direction)).outcome

    assert run(0.10) == REPRODUCES
    assert run(0.01) == DOES_NOT_REPRODUCE  # clearly short of the bar
    assert run(-0.10) == DOES_NOT_REPRODUCE  # clearly the wrong way
    assert run(0.05, noise=(-0.05, 0.0, 0.06)) == INCONCLUSIVE  # the interval straddles the bar
    r = evaluate(c, ctx({"b": BASE, "m": shifted(s * 0.10)}, direction=direction))
    assert r.estimate == pytest.approx(0.10) and r.interval["low"] > 0.05 and "paired t" in r.reason


def test_paired_and_welch_differ_when_seeds_differ_a_lot():
    b, m = [0.70, 0.80, 0.90], [0.72, 0.81, 0.92]  # better on every seed; seeds spread widely
    c = Compare(method="m", baseline="b")
    assert evaluate(c, ctx({"b": b, "m": m})).outcome == REPRODUCES
    assert evaluate(c, ctx({"b": b, "m": m}, paired=False)).outcome == INCONCLUSIVE
    assert evaluate(Compare(method="m", baseline="b", paired=False), ctx({"b": b, "m": m})).outcome == INCONCLUSIVE


def test_an_identical_method_is_not_superior():
    assert evaluate(Compare(method="m", baseline="b"), ctx({"b": BASE, "m": BASE})).outcome == DOES_NOT_REPRODUCE


def test_relative_effects():
    b = [1.0, 1.2, 0.8]
    m = [0.7, 0.85, 0.55]  # about 30% lower, lower is better
    c = Compare(method="m", baseline="b", relative=True, min_effect=0.2, direction="lower")
    r = evaluate(c, ctx({"b": b, "m": m}))
    assert r.outcome == REPRODUCES and r.estimate == pytest.approx((0.3 + 0.35 / 1.2 + 0.25 / 0.8) / 3)
    assert "20%" in r.text
    assert evaluate(c.model_copy(update={"min_effect": 0.4}), ctx({"b": b, "m": m})).outcome == DOES_NOT_REPRODUCE
    r = evaluate(c.model_copy(update={"paired": False}), ctx({"b": b, "m": m}))
    assert r.estimate == pytest.approx(1 - (2.1 / 3) / 1.0) and "Welch t, relative" in r.reason


def test_non_inferiority_and_equivalence():
    ni = Compare(method="m", baseline="b", test="non_inferiority", margin=0.05)
    assert evaluate(ni, ctx({"b": BASE, "m": shifted(-0.02)})).outcome == REPRODUCES
    assert evaluate(ni, ctx({"b": BASE, "m": shifted(0.03)})).outcome == REPRODUCES  # better is non-inferior
    assert evaluate(ni, ctx({"b": BASE, "m": shifted(-0.10)})).outcome == DOES_NOT_REPRODUCE
    assert evaluate(ni, ctx({"b": BASE, "m": shifted(-0.05, (-0.05, 0.0, 0.06))})).outcome == INCONCLUSIVE
    eq = Compare(method="m", baseline="b", test="equivalence", margin=0.05)
    assert evaluate(eq, ctx({"b": BASE, "m": shifted(0.01)})).outcome == REPRODUCES
    assert evaluate(eq, ctx({"b": BASE, "m": shifted(0.03)})).outcome == REPRODUCES
    assert evaluate(eq, ctx({"b": BASE, "m": shifted(0.10)})).outcome == DOES_NOT_REPRODUCE  # clearly better too
    assert evaluate(eq, ctx({"b": BASE, "m": shifted(-0.10)})).outcome == DOES_NOT_REPRODUCE
    assert evaluate(eq, ctx({"b": BASE, "m": shifted(0.04, (-0.04, 0.0, 0.05))})).outcome == INCONCLUSIVE


def test_std_rules_are_literal():
    beats = StdRule(method="m", baseline="b")
    b, m = [0.80, 0.82, 0.84], [0.84, 0.86, 0.88]
    r = evaluate(beats, ctx({"b": b, "m": m}))
    assert r.outcome == REPRODUCES and r.details["std"] == pytest.approx(0.02) and "literal" in r.reason
    assert evaluate(beats, ctx({"b": b, "m": [0.81, 0.83, 0.85]})).outcome == DOES_NOT_REPRODUCE
    assert evaluate(beats.model_copy(update={"k": 3.0}), ctx({"b": b, "m": m})).outcome == DOES_NOT_REPRODUCE
    not_worse = StdRule(method="m", baseline="b", test="not_worse")
    assert evaluate(not_worse, ctx({"b": b, "m": [0.79, 0.81, 0.83]})).outcome == REPRODUCES
    assert evaluate(not_worse, ctx({"b": b, "m": [0.76, 0.78, 0.80]})).outcome == DOES_NOT_REPRODUCE
    assert evaluate(not_worse.model_copy(update={"std": "baseline"}), ctx({"b": b, "m": b})).outcome == REPRODUCES
    assert evaluate(beats, ctx({"b": [0.5], "m": [0.9]})).outcome == INCONCLUSIVE  # no std from one seed
    assert "one pooled std" in r.text


@pytest.mark.parametrize(("op", "values", "value", "outcome"), [
    (">=", [0.91, 0.92, 0.93], 0.9, REPRODUCES),
    (">=", [0.80, 0.81, 0.82], 0.9, DOES_NOT_REPRODUCE),
    (">=", [0.85, 0.90, 0.95], 0.9, INCONCLUSIVE),
    ("<=", [0.10, 0.11, 0.12], 0.15, REPRODUCES),
    ("<", [0.20, 0.21, 0.22], 0.15, DOES_NOT_REPRODUCE),
    (">", [0.9, 0.9, 0.9], 0.9, DOES_NOT_REPRODUCE),  # a point interval on the bar: ">" fails
    (">=", [0.9, 0.9, 0.9], 0.9, REPRODUCES),
])
def test_thresholds_on_the_interval(op, values, value, outcome):
    assert evaluate(Threshold(figure=Figure(arm="a"), op=op, value=value), ctx({"a": values})).outcome == outcome


def test_ratio_figures():
    finals = {"dense": [{"ms": 10.0}, {"ms": 11.0}, {"ms": 9.0}], "crop": [{"ms": 4.0}, {"ms": 4.5}, {"ms": 3.9}]}
    speedup = Figure(arm="dense", metric="ms", over=Ratio(arm="crop"))
    r = evaluate(Threshold(figure=speedup, op=">=", value=2.0), ctx(finals, metric="ms"))
    assert r.outcome == REPRODUCES and r.details["values"] == pytest.approx([2.5, 11 / 4.5, 9 / 3.9])
    r = evaluate(Threshold(figure=speedup, op=">=", value=3.0), ctx(finals, metric="ms"))
    assert r.outcome == DOES_NOT_REPRODUCE and "(`dense` ms) / (`crop` ms)" in r.text
    within = Figure(arm="dense", metric="ms", over=Ratio(metric="ms"))  # same arm: 1.0
    assert evaluate(Equal(left=within, right=1.0), ctx(finals)).outcome == REPRODUCES


def test_seed_counts():
    c = SeedCount(left=Figure(arm="x", metric="kl_data"), op="<", right=Figure(arm="x", metric="kl_depth"), k=2)
    finals = {"x": [{"kl_data": 0.1, "kl_depth": 0.5}, {"kl_data": 0.6, "kl_depth": 0.5},
                    {"kl_data": 0.2, "kl_depth": 0.4}]}
    r = evaluate(c, ctx(finals))
    assert r.outcome == REPRODUCES and r.details["holds"] == [True, False, True] and "2 of 3" in r.reason
    assert evaluate(c.model_copy(update={"k": 3}), ctx(finals)).outcome == DOES_NOT_REPRODUCE
    assert evaluate(SeedCount(left=Figure(arm="x", metric="kl_data"), op=">", right=0.0, k=3),
                    ctx(finals)).outcome == REPRODUCES


def test_equalities():
    finals = {"a": [{"steps": 330, "diff": 1e-7}] * 3, "b": [{"steps": 330, "diff": 0.0}] * 3}
    assert evaluate(Equal(left=Figure(arm="a", metric="steps"), right=Figure(arm="b", metric="steps")),
                    ctx(finals)).outcome == REPRODUCES
    assert evaluate(Equal(left=Figure(arm="a", metric="diff"), right=0.0, tolerance=1e-5),
                    ctx(finals)).outcome == REPRODUCES
    r = evaluate(Equal(left=Figure(arm="a", metric="diff"), right=0.0), ctx(finals))
    assert r.outcome == DOES_NOT_REPRODUCE and "differs in 3 of 3 seeds" in r.reason
    nan = {"a": [{"x": math.nan}] * 3}
    assert evaluate(Equal(left=Figure(arm="a", metric="x"), right=0.0, tolerance=1.0), ctx(nan)).outcome == (
        DOES_NOT_REPRODUCE)


def test_monotone_trends():
    t48, t96, t192 = [1.0, 1.1, 0.9], [0.8, 0.9, 0.7], [0.7, 0.79, 0.61]
    c = Monotone(sequence=["t48", "t96", "t192"], direction="lower", strict=True)
    r = evaluate(c, ctx({"t48": t48, "t96": t96, "t192": t192}))
    assert r.outcome == REPRODUCES and len(r.details["steps"]) == 2 and "→" in r.text
    rising = {"t48": t48, "t96": t96, "t192": [0.9, 1.0, 0.8]}
    assert evaluate(c, ctx(rising)).outcome == DOES_NOT_REPRODUCE
    flat = {"t48": t48, "t96": t96, "t192": [0.81, 0.89, 0.705]}
    assert evaluate(c, ctx(flat)).outcome == INCONCLUSIVE  # strict: the last step is within noise
    loose = Monotone(sequence=["t48", "t96", "t192"], direction="lower", margin=0.05)
    assert evaluate(loose, ctx(flat)).outcome == REPRODUCES


def test_missing_figures_name_the_arm_and_what_it_has():
    with pytest.raises(ForwardkitError, match=r"arm 'a' has no figure 'test/acc' \(its final metrics: m\)"):
        evaluate(Threshold(figure=Figure(arm="a", metric="test/acc"), op=">=", value=0.5), ctx({"a": [0.1] * 3}))


def test_fewer_than_three_seeds_never_reproduce():
    c = Compare(method="m", baseline="b")
    for n in (1, 2):
        r = evaluate(c, ctx({"b": BASE[:n], "m": shifted(0.2)[:n]}))
        assert r.outcome == INCONCLUSIVE, n
    r = evaluate(Equal(left=Figure(arm="b"), right=0.5), ctx({"b": [0.5, 0.5]}))
    assert r.outcome == INCONCLUSIVE and "too few seeds (2 < 3)" in r.reason and r.details["too_few_seeds"]
    # a clear failure stays a failure
    assert evaluate(Equal(left=Figure(arm="b"), right=0.1), ctx({"b": [0.5, 0.5]})).outcome == DOES_NOT_REPRODUCE


# ---- the spec's verdict ---------------------------------------------------------------------------------------
CONDS = [Compare(method="m", baseline="b"), Threshold(figure=Figure(arm="m"), op=">=", value=0.3)]


def finals_of(b, m):
    return {"b": [{"m": x} for x in b], "m": [{"m": x} for x in m]}


def test_the_verdict_needs_every_condition():
    v = judge(CONDS, finals_of(BASE, shifted(0.2)), metric="m", direction="higher")
    assert v.outcome == REPRODUCES and v.label == REPRODUCES and v.reason == "2 of 2 conditions hold"
    assert [c["outcome"] for c in v.conditions] == [REPRODUCES, REPRODUCES] and v.to_dict()["seeds"] == 3
    v = judge(CONDS, finals_of(BASE, shifted(0.2, base=[0.2, 0.3, 0.35])), metric="m", direction="higher")
    assert v.outcome == DOES_NOT_REPRODUCE and "condition 1" in v.reason and "fails" in v.reason
    noisy = shifted(0.03, (-0.04, 0.0, 0.05))
    v = judge(CONDS, finals_of(BASE, noisy), metric="m", direction="higher")
    assert v.outcome == INCONCLUSIVE and v.qualifier is None and "1 of 2 conditions hold" in v.reason


def test_too_few_seeds_is_its_own_label():
    v = judge(CONDS, finals_of(BASE[:2], shifted(0.4)[:2]), metric="m", direction="higher")
    assert v.outcome == INCONCLUSIVE and v.label == "inconclusive (too few seeds)"
    assert "on these seeds 2 of 2 conditions would hold" in v.reason
    v = judge(CONDS, finals_of([0.5], [0.1]), metric="m", direction="higher")
    assert v.outcome == DOES_NOT_REPRODUCE or v.label == "inconclusive (too few seeds)"


def test_any_of_holds_when_one_part_holds():
    b, a_good, a_bad = [0.80, 0.82, 0.84], [0.90, 0.92, 0.94], [0.79, 0.81, 0.83]
    either = AnyOf(conditions=[StdRule(method="x", baseline="b"), StdRule(method="y", baseline="b")])
    assert evaluate(either, ctx({"b": b, "x": a_bad, "y": a_good})).outcome == REPRODUCES
    r = evaluate(either, ctx({"b": b, "x": a_bad, "y": a_bad}))
    assert r.outcome == DOES_NOT_REPRODUCE and r.text.startswith("at least one of") and len(r.details["parts"]) == 2
    noisy = AnyOf(conditions=[Compare(method="x", baseline="b"), Compare(method="y", baseline="b")])
    assert evaluate(noisy, ctx({"b": b, "x": a_bad, "y": [0.70, 0.85, 0.95]})).outcome == INCONCLUSIVE
    spec = parse_spec({**GOOD, "conditions": [{"kind": "any", "conditions": [
        {"kind": "compare", "method": "method", "baseline": "baseline"},
        {"kind": "threshold", "figure": {"arm": "method"}, "op": ">=", "value": 0.5}]}]})
    assert spec.used_arms() == ["baseline", "method"]


def test_any_of_with_k_needs_k_parts():
    b, good, bad = [0.80, 0.82, 0.84], [0.90, 0.92, 0.94], [0.79, 0.81, 0.83]
    noisy = [0.70, 0.85, 0.95]
    two = AnyOf(k=2, conditions=[StdRule(method=m, baseline="b") for m in ("x", "y", "z")])
    assert evaluate(two, ctx({"b": b, "x": good, "y": good, "z": bad})).outcome == REPRODUCES
    r = evaluate(two, ctx({"b": b, "x": good, "y": bad, "z": bad}))
    assert r.outcome == DOES_NOT_REPRODUCE and r.text.startswith("at least 2 of")
    three = AnyOf(k=2, conditions=[Compare(method=m, baseline="b") for m in ("x", "y", "z")])
    assert evaluate(three, ctx({"b": b, "x": good, "y": noisy, "z": bad})).outcome == INCONCLUSIVE
    with pytest.raises(ValueError, match="exceeds the 2 conditions"):
        AnyOf(k=3, conditions=[StdRule(method="x", baseline="b"), StdRule(method="y", baseline="b")])


def test_a_separate_fail_margin_leaves_the_gap_inconclusive():
    c = Compare(method="m", baseline="b", test="non_inferiority", margin=0.01, fail_margin=0.02)
    assert evaluate(c, ctx({"b": BASE, "m": shifted(-0.015, (0.0, 0.0, 0.0))})).outcome == INCONCLUSIVE
    assert evaluate(c.model_copy(update={"fail_margin": None}),
                    ctx({"b": BASE, "m": shifted(-0.015, (0.0, 0.0, 0.0))})).outcome == DOES_NOT_REPRODUCE
    assert evaluate(c, ctx({"b": BASE, "m": shifted(-0.03, (0.0, 0.0, 0.0))})).outcome == DOES_NOT_REPRODUCE
    with pytest.raises(ValueError, match="fail_margin"):
        Compare(method="m", baseline="b", test="non_inferiority", margin=0.02, fail_margin=0.01)


def test_a_superiority_fail_below_leaves_the_gap_inconclusive():
    # "beats by >= 0.01; does not reproduce: not better": an effect wholly inside (0, 0.01) decides nothing
    c = Compare(method="m", baseline="b", min_effect=0.01, fail_below=0.0)
    assert evaluate(c, ctx({"b": BASE, "m": shifted(0.005, (0.0, 0.0, 0.0))})).outcome == INCONCLUSIVE
    assert evaluate(c.model_copy(update={"fail_below": None}),
                    ctx({"b": BASE, "m": shifted(0.005, (0.0, 0.0, 0.0))})).outcome == DOES_NOT_REPRODUCE
    assert evaluate(c, ctx({"b": BASE, "m": shifted(-0.005, (0.0, 0.0, 0.0))})).outcome == DOES_NOT_REPRODUCE
    assert evaluate(c, ctx({"b": BASE, "m": shifted(0.02, (0.0, 0.0, 0.0))})).outcome == REPRODUCES
    with pytest.raises(ValueError, match="fail_below"):
        Compare(method="m", baseline="b", min_effect=0.01, fail_below=0.02)
    with pytest.raises(ValueError, match="fail_below"):
        Compare(method="m", baseline="b", test="non_inferiority", margin=0.01, fail_below=0.0)
