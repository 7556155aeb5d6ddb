"""The kit draws for real: profiles, seeds that replay a failure, health checks on, no stray database,
and declared gradient exemptions counted like expected failures."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from hypothesis import HealthCheck, Phase
from hypothesis.database import DirectoryBasedExampleDatabase
from torch import Tensor, nn

from forwardkit.interfaces import TokenMixer
from forwardkit.testing import (
    DeclaredFailure,
    check_component,
    check_gradients,
    check_output_shape,
    profiles,
    run_check,
)
from forwardkit.testing import strategies as fks
from forwardkit.testing.checks.common import as_subject
from forwardkit.testing.checks.mixers import run_mixer_cases


@pytest.fixture(autouse=True)
def fresh_profile(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts from the default profile, whatever the environment or the command line say."""
    for name in (profiles.ENV_PROFILE, profiles.ENV_EXAMPLES, profiles.ENV_SEED, profiles.ENV_DATABASE):
        monkeypatch.delenv(name, raising=False)
    saved = profiles._overrides
    profiles.configure(reset=True)
    yield
    profiles._overrides = saved


class WrongOnBatchesOfThree(TokenMixer):
    """Drops a token, but only on batches of 3: the explicit cases (batch 2) miss it, drawn ones find it."""

    def forward(self, x: Tensor) -> Tensor:
        return x[:, :-1] if x.shape[0] == 3 else x


class ZeroGate(TokenMixer):
    """A gate multiplied by zero, declared: the kit counts the check as an expected failure."""

    gradient_exempt: ClassVar[dict[str, str]] = {"gate": "kept at zero until the schedule opens it"}

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.proj = nn.Linear(self.dim, self.dim)
        self.gate = nn.Parameter(torch.ones(()))

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x) + 0.0 * self.gate * x


def _drawn_cases(**options: Any) -> tuple[int, list[fks.MixerCase]]:
    seen: list[fks.MixerCase] = []
    tally = run_mixer_cases(as_subject(WrongOnBatchesOfThree), lambda m, c: seen.append(c), check="x", **options)
    return tally.seed, [c for c in seen if not c.explicit]


# ---- profiles -----------------------------------------------------------------------------------------
def test_the_default_profile_is_reproducible_and_checks_health() -> None:
    profile = profiles.active_profile({})
    assert (profile.name, profile.max_examples, profile.seed) == ("default", profiles.DEFAULT_EXAMPLES, 0)
    s = fks.conformance_settings(profile=profile)
    assert s.max_examples == profiles.DEFAULT_EXAMPLES and s.deadline is None and s.database is None
    assert s.derandomize and not s.print_blob
    assert {Phase.explicit, Phase.generate, Phase.shrink} <= set(s.phases) and Phase.explain not in s.phases
    assert list(s.suppress_health_check) == list(fks.SUPPRESSED_HEALTH_CHECKS)
    assert set(HealthCheck) - set(s.suppress_health_check), "every health check is suppressed"


def test_suppressed_health_checks_state_their_reasons() -> None:
    for check, reason in fks.SUPPRESSED_HEALTH_CHECKS.items():
        assert isinstance(check, HealthCheck) and isinstance(reason, str) and reason.strip()


def test_the_environment_chooses_profile_examples_and_seed() -> None:
    deep = profiles.active_profile({profiles.ENV_PROFILE: "deep"})
    assert (deep.max_examples, deep.seed, deep.derandomized) == (profiles.DEEP_EXAMPLES, None, False)
    assert not fks.conformance_settings(profile=deep).derandomize
    chosen = profiles.active_profile({profiles.ENV_EXAMPLES: "3", profiles.ENV_SEED: "7"})
    assert (chosen.name, chosen.max_examples, chosen.seed) == ("default", 3, 7)
    assert profiles.active_profile({profiles.ENV_SEED: "random"}).seed is None
    for bad in ({profiles.ENV_PROFILE: "shallow"}, {profiles.ENV_EXAMPLES: "many"}, {profiles.ENV_SEED: "-1"}):
        with pytest.raises(ValueError):
            profiles.active_profile(bad)


def test_configure_overrides_the_environment() -> None:
    profiles.configure(profile="deep", seed=5)
    chosen = profiles.active_profile({profiles.ENV_SEED: "9", profiles.ENV_EXAMPLES: "4"})
    assert (chosen.name, chosen.seed, chosen.max_examples) == ("deep", 5, 4)
    assert profiles.configure(reset=True) == profiles.PROFILES["default"]


def test_the_example_database_is_opt_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_check("check_output_shape", WrongOnBatchesOfThree).status == "failed"
    assert run_check("check_gradients", ZeroGate).status == "xfailed"
    assert not (tmp_path / ".hypothesis").exists(), "the kit wrote an example database into the working directory"
    monkeypatch.setenv(profiles.ENV_DATABASE, str(tmp_path / "db"))
    s = fks.conformance_settings()
    assert isinstance(s.database, DirectoryBasedExampleDatabase) and not s.derandomize
    assert run_check("check_output_shape", WrongOnBatchesOfThree).status == "failed"
    assert (tmp_path / "db").is_dir() and not (tmp_path / ".hypothesis").exists()


# ---- drawn examples and seeds ---------------------------------------------------------------------------
def test_draws_are_the_same_under_a_seed_and_differ_under_another() -> None:
    seed, first = _drawn_cases()
    assert seed == 0 and len(first) == profiles.DEFAULT_EXAMPLES
    assert _drawn_cases()[1] == first
    assert _drawn_cases(seed=1)[1] != first
    assert len(_drawn_cases(max_examples=25)[1]) == 25
    assert _drawn_cases(max_examples=0)[1] == []  # only the explicit cases


def test_the_deep_profile_draws_under_a_fresh_seed_that_replays() -> None:
    profiles.configure(profile="deep", max_examples=15)
    (seed_a, cases_a), (seed_b, _) = _drawn_cases(), _drawn_cases()
    assert seed_a != seed_b and len(cases_a) == 15
    assert _drawn_cases(seed=seed_a)[1] == cases_a


def test_a_failure_on_a_drawn_case_names_the_seed_that_replays_it() -> None:
    outcome = run_check("check_output_shape", WrongOnBatchesOfThree)
    assert outcome.status == "failed"
    assert "batch=3" in outcome.message  # the (shrunk) falsifying case
    assert "under seed 0" in outcome.message and f"{profiles.ENV_SEED}=0" in outcome.message
    assert "check_output_shape(WrongOnBatchesOfThree, seed=0, max_examples=10)" in outcome.message
    profiles.configure(profile="deep")
    deep = run_check("check_output_shape", WrongOnBatchesOfThree)
    seed = int(re.search(r"under seed (\d+)", deep.message).group(1))  # type: ignore[union-attr]
    with pytest.raises(AssertionError, match=rf"under seed {seed}\b"):
        check_output_shape(WrongOnBatchesOfThree, seed=seed, max_examples=profiles.DEEP_EXAMPLES)


# ---- declared gradient exemptions ---------------------------------------------------------------------
def test_a_declared_zero_gradient_is_an_expected_failure() -> None:
    outcome = run_check("check_gradients", ZeroGate)
    assert outcome.status == "xfailed"
    assert "gate: kept at zero until the schedule opens it" in outcome.message
    report = check_component(ZeroGate)
    assert report.ok and report.xfailed == 1 and report.status_of("check_gradients") == "xfailed"
    with pytest.raises(DeclaredFailure):  # called directly, a check ignores declarations
        check_gradients(ZeroGate)
