"""Checks of token and channel mixers, run over explicit and drawn cases (:class:`~.strategies.MixerCase`).

Each property runs first on the explicit cases (every pinned or default config at each supported
rank's canonical shape), then on :data:`~forwardkit.testing.profiles.DEFAULT_EXAMPLES` (or the active
profile's count of) cases drawn by hypothesis under the profile's seed. A drawn case the mixer cannot
run (its config does not build, ``supports()`` refuses the shape, the instance does not claim the
property) is rejected and counted. A property fails when:

* it fails on a case (the message names the case; for a drawn one, the seed that replays it);
* it ran on no case at all, or on no drawn case (every draw was rejected): nothing was tested;
* a hypothesis health check fails (see :data:`~forwardkit.testing.strategies.SUPPRESSED_HEALTH_CHECKS`).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import torch
from hypothesis import example, given, reject
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import FailedHealthCheck, Unsatisfiable
from torch import Tensor

from forwardkit.errors import ForwardkitError
from forwardkit.testing import strategies as fks
from forwardkit.testing.checks.common import SkipCheck, Subject, conformance_check, fail
from forwardkit.testing.checks.declarations import MIXERS
from forwardkit.testing.checks.helpers import (
    UNCHANGED,
    call,
    close,
    describe_config,
    max_diff,
    non_finite,
    seeded,
    weights_like,
)
from forwardkit.testing.checks.modules import (
    GradientLedger,
    Probe,
    enforce_nonzero_gradients,
    missing_gradients,
    prop_config_round_trip,
    prop_determinism,
    prop_state_dict,
)
from forwardkit.testing.profiles import active_profile, replay_hint

__all__ = ["MixerTally", "require_ran", "run_mixer_cases"]

#: exceptions that reject a *drawn* config (an invalid combination the Config does not validate)
REJECTED_BUILD_ERRORS = (ValueError, AssertionError, NotImplementedError, ForwardkitError)


def supports(mixer: Any, spatial: tuple[int, ...]) -> bool:
    """``mixer.supports(spatial)``, or whether the rank is among the declared ``ranks``."""
    method = getattr(mixer, "supports", None)
    if callable(method):
        return bool(method(spatial))
    return len(spatial) in getattr(mixer, "ranks", (1, 2, 3))


def mixer_dim(mixer: Any) -> int:
    """The channel count of a mixer instance."""
    dim = getattr(mixer, "dim", None)
    if dim is None:
        dim = mixer.config.dim
    return int(dim)


# ---- running mixer properties over explicit and drawn cases -------------------------------------------
@dataclass
class MixerTally:
    """What one check run did: cases run (and how many drawn), ranks covered, rejections by reason."""

    check: str
    target: str
    seed: int
    max_examples: int
    database: str | None = None
    claimed: bool = True
    ran: int = 0
    drawn: int = 0
    ranks: set[int] = field(default_factory=set)
    rejected: Counter[str] = field(default_factory=Counter)
    rejected_explicit: list[str] = field(default_factory=list)
    failing: fks.MixerCase | None = None

    def reject(self, case: fks.MixerCase, reason: str) -> None:
        """Reject ``case`` for ``reason`` (hypothesis draws another)."""
        self.rejected[reason] += 1
        if case.explicit:
            self.rejected_explicit.append(f"{case.spatial}: {reason}")
        reject()

    def replay(self) -> str:
        """How to replay this run's drawn cases."""
        if self.database:
            return (
                f"forwardkit: {self.max_examples} drawn example(s); a failing one is saved in the example "
                f"database {self.database}, which replays it first when the check runs again"
            )
        return replay_hint(self.check, self.target, self.seed, self.max_examples)

    def rejections(self) -> str:
        """``12 x supports() refuses the shape, ...``, for messages."""
        return ", ".join(f"{n} x {why}" for why, n in self.rejected.most_common()) or "none"


def _target(subject: Subject) -> str:
    """How the replay hint names the component: ``'kind/name'`` when registered, else the class name."""
    return repr(subject.label) if subject.info is not None else getattr(subject.cls, "__name__", subject.label)


def case_config(subject: Subject, case: fks.MixerCase) -> dict[str, Any]:
    """The config a case builds: the fields the mixer fills for the case's grid (``fields_for_input``) and
    the case's own; an explicit (pinned) config's fields win, a drawn config's yield to the grid's (a drawn
    token count would otherwise almost never fit the grid)."""
    from forwardkit.config import input_fields

    fields = input_fields(subject.cls, case.spatial)
    return {**fields, **case.config} if case.explicit else {**case.config, **fields}


def _build_case(subject: Subject, case: fks.MixerCase, tally: MixerTally | None = None) -> Any:
    config = case_config(subject, case)
    try:
        return seeded(case.seed, lambda: subject.build(config))
    except Exception as exc:
        if case.explicit:
            raise AssertionError(
                f"cannot build {subject.label} from {describe_config(case.config)}: {type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(exc, REJECTED_BUILD_ERRORS) and tally is not None:
            tally.reject(case, "the drawn config does not build")
        raise


def _claimed(subject: Subject, explicit: Sequence[fks.MixerCase], accept: Callable[[Any], bool]) -> bool:
    """Whether an instance of an explicit config claims the property (causal, pointwise): when none does,
    drawn ones will not either (configs that switch it are pinned)."""
    firsts: dict[str, fks.MixerCase] = {}
    for case in explicit:
        firsts.setdefault(repr(sorted(case.config.items())), case)
    return any(accept(_build_case(subject, case)) for case in firsts.values())


@dataclass(frozen=True)
class _Filters:
    """What a case needs to run a property: enough tokens, and an instance that claims the property."""

    min_tokens: int = 1
    accept: Callable[[Any], bool] | None = None


def _property_test(
    subject: Subject, prop: Callable[[Any, fks.MixerCase], None], tally: MixerTally, filters: _Filters
) -> Callable[[fks.MixerCase], None]:
    def property_holds(case: fks.MixerCase) -> None:
        mixer = _build_case(subject, case, tally)
        if filters.accept is not None and not filters.accept(mixer):
            tally.reject(case, "the instance does not claim the property")
        if case.tokens_count < filters.min_tokens:
            tally.reject(case, f"fewer than {filters.min_tokens} tokens")
        if not supports(mixer, case.spatial):
            tally.reject(case, "supports() refuses the shape")
        try:
            prop(mixer, case)
        except Exception:
            tally.failing = case
            raise
        tally.ran += 1
        tally.drawn += not case.explicit
        tally.ranks.add(case.rank)

    return property_holds


def run_mixer_cases(
    subject: Subject,
    prop: Callable[[Any, fks.MixerCase], None],
    *,
    check: str,
    configs: Sequence[Mapping[str, Any]] | None = None,
    max_examples: int | None = None,
    seed: int | None = None,
    fixed: Mapping[str, Any] | None = None,
    min_batch: int = 1,
    min_tokens: int = 1,
    accept: Callable[[Any], bool] | None = None,
) -> MixerTally:
    """Run ``prop(mixer, case)`` on the explicit cases, then on drawn ones; returns what ran.

    ``seed`` and ``max_examples`` default to the active profile's. With ``accept``, a run in which no
    explicit instance claims the property returns at once with ``claimed=False``.
    """
    subject.configs(configs)  # skips when neither pinned configs nor the defaults can be built
    profile = active_profile()
    count = profile.max_examples if max_examples is None else max_examples
    drawn_seed = profile.draw_seed() if seed is None else seed
    tally = MixerTally(check, _target(subject), drawn_seed, count, database=profile.database)
    pinned = [dict(c) for c in configs] if configs else fks.pinned_configs(subject.cls)
    strategy = fks.mixer_cases(subject, configs_=pinned, fixed=fixed, min_batch=min_batch, max_batch=max(3, min_batch))
    explicit = fks.explicit_mixer_cases(subject, configs_=pinned, fixed=fixed, batch=max(2, min_batch))
    if accept is not None and not _claimed(subject, explicit, accept):
        tally.claimed = False
        return tally
    test = given(strategy)(_property_test(subject, prop, tally, _Filters(min_tokens, accept)))
    for case in reversed(explicit):
        test = example(case)(test)
    test = fks.conformance_settings(count, profile=profile)(test)
    if profile.database:  # the database replays saved failures first; keep each (component, check) apart
        test.hypothesis.inner_test._hypothesis_internal_add_digest = f"{tally.target}:{check}".encode()  # type: ignore[attr-defined]
    else:  # an explicit seed (hypothesis then uses no database)
        test = hypothesis_seed(tally.seed)(test)
    try:
        with fks.kit_storage(), contextlib.suppress(Unsatisfiable):  # every draw rejected: require_ran says so
            test()
    except FailedHealthCheck as exc:
        _health_check_failed(tally, exc)
    except Exception as exc:
        if tally.failing is None or not tally.failing.explicit:
            exc.add_note(tally.replay())
        raise
    return tally


def _health_check_failed(tally: MixerTally, exc: FailedHealthCheck) -> NoReturn:
    """A failed hypothesis health check, told with what the kit ran and rejected."""
    require_ran(tally)  # nothing ran at all: say that first
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    raise AssertionError(
        f"{tally.check}: a hypothesis health check failed ({first}); {tally.ran} case(s) ran ({tally.drawn} drawn), "
        f"rejected: {tally.rejections()}. Most drawn cases never reach the mixer: make supports() and the "
        f"Config accept the shapes and values of the declared ranks, or pin runnable configs. {tally.replay()}"
    ) from exc


def require_ran(tally: MixerTally) -> int:
    """The no-case rule for mixers: some case ran, and some drawn case ran; returns the cases run."""
    if tally.ran == 0:
        fail(
            f"no case could be run for {tally.check}: every config/shape tried was rejected "
            f"(explicit: {tally.rejected_explicit or 'none rejected'}; all: {tally.rejections()}); pin runnable "
            "configs with conformance_configs, and make supports() accept the shapes of the declared ranks"
        )
    if tally.max_examples > 0 and tally.drawn == 0:
        fail(
            f"{tally.check} ran only on the explicit cases: every drawn case was rejected ({tally.rejections()}), "
            f"so no drawn input was tested. {tally.replay()}"
        )
    return tally.ran


def _run(subject: Subject, prop: Callable[[Any, fks.MixerCase], None], check: str, **options: Any) -> int:
    return require_ran(run_mixer_cases(subject, prop, check=check, **options))


# ---- output shape and finiteness ------------------------------------------------------------------------
def _mixer_shape_prop(mixer: Any, case: fks.MixerCase) -> None:
    x = case.tokens(mixer_dim(mixer))
    for training in (True, False):
        mixer.train(training)
        mode = "train" if training else "eval"
        with torch.no_grad():
            out = mixer(x)
        if not isinstance(out, Tensor):
            fail(f"forward returned a {type(out).__name__}, not a tensor ({mode} mode, input {tuple(x.shape)})")
        if out.shape != x.shape:
            fail(f"output shape {tuple(out.shape)} != input shape {tuple(x.shape)} ({mode} mode)")
        if out.dtype != x.dtype:
            fail(f"output dtype {out.dtype} != input dtype {x.dtype} ({mode} mode)")


@conformance_check(*MIXERS, name="check_output_shape")
def _output_shape_mixer(
    subject: Subject, *, configs: Any = None, max_examples: int | None = None, seed: int | None = None
) -> int:
    """Output shape (and dtype) equals the input shape ``(B, *spatial, C)`` in train and eval mode, for
    every declared rank (the default config at each rank's canonical shape, then drawn cases)."""
    tally = run_mixer_cases(
        subject, _mixer_shape_prop, check="check_output_shape", configs=configs, max_examples=max_examples, seed=seed
    )
    ran = require_ran(tally)
    declared = {r for r in getattr(subject.cls, "ranks", (1, 2, 3)) if r in (1, 2, 3)}
    missing = sorted(declared - tally.ranks)
    if missing:
        fail(
            f"ranks {missing} are declared but supports() refused every shape of those ranks tried "
            f"(canonical {[fks.CANONICAL_SPATIAL[r] for r in missing]} and drawn ones); declare only the "
            "ranks the mixer accepts"
        )
    return ran


def _mixer_finite_prop(mixer: Any, case: fks.MixerCase) -> None:
    x = case.tokens(mixer_dim(mixer))
    for training in (True, False):
        mixer.train(training)
        with torch.no_grad():
            out = mixer(x)
        if non_finite(out):
            mode = "train" if training else "eval"
            fail(f"non-finite output values ({mode} mode, standard-normal input {tuple(x.shape)})")


@conformance_check(*MIXERS, name="check_finite")
def _finite_mixer(
    subject: Subject, *, configs: Any = None, max_examples: int | None = None, seed: int | None = None
) -> int:
    """Outputs are finite for standard-normal inputs, in train and eval mode."""
    return _run(subject, _mixer_finite_prop, "check_finite", configs=configs, max_examples=max_examples, seed=seed)


# ---- gradients -----------------------------------------------------------------------------------------
def _backward_at_other_ranks(mixer: Any, case: fks.MixerCase, dim: int) -> None:
    """Backpropagate at the mixer's other supported ranks (a parameter may serve only one rank)."""
    from forwardkit.config import input_fields

    for rank in getattr(mixer, "ranks", (1, 2, 3)):
        spatial = fks.CANONICAL_SPATIAL.get(rank)
        if spatial is None or spatial == case.spatial or not supports(mixer, spatial):
            continue
        if input_fields(type(mixer), spatial) != input_fields(type(mixer), case.spatial):
            continue  # sized for the case's grid: another grid is another instance
        other = fks.MixerCase(config=case.config, batch=case.batch, spatial=spatial, seed=case.seed)
        y = mixer(other.tokens(dim))
        (y * weights_like(y, case.seed + 8)).sum().backward()


def _grad_prop(ledger: GradientLedger, exempt: Mapping[str, str]) -> Callable[[Any, fks.MixerCase], None]:
    def prop(mixer: Any, case: fks.MixerCase) -> None:
        mixer.train()
        dim = mixer_dim(mixer)
        x = case.tokens(dim).requires_grad_(True)
        out = mixer(x)
        if not isinstance(out, Tensor) or not out.requires_grad:
            fail("the output does not require grad: the input's gradient cannot flow through the mixer")
        (out * weights_like(out, case.seed + 7)).sum().backward()
        if x.grad is None:
            fail("no gradient reached the input")
        if not torch.isfinite(x.grad).all():
            fail("non-finite gradient at the input")
        missing, nonfinite = missing_gradients(mixer, exempt)
        if missing:
            _backward_at_other_ranks(mixer, case, dim)
            missing, nonfinite = missing_gradients(mixer, exempt)
        if missing:
            fail(f"no gradient reached trainable parameter(s) {missing} (shape {case.shape(dim)})")
        if nonfinite:
            fail(f"non-finite gradients in parameter(s) {nonfinite}")
        ledger.record(mixer)

    return prop


@conformance_check(*MIXERS, name="check_gradients")
def _gradients_mixer(
    subject: Subject, *, configs: Any = None, max_examples: int | None = None, seed: int | None = None
) -> int:
    """In train mode, the gradient of a random projection of the output reaches the input and every
    trainable parameter (at some supported rank) and is finite; over all cases, every trainable
    parameter gets a non-zero gradient at least once (``gradient_exempt`` declares exceptions)."""
    ledger, exempt = GradientLedger(), subject.gradient_exempt
    prop = _grad_prop(ledger, exempt)
    tally = run_mixer_cases(
        subject, prop, check="check_gradients", configs=configs, max_examples=max_examples, seed=seed
    )
    ran = require_ran(tally)
    enforce_nonzero_gradients(ledger, exempt, "explicit and drawn", hint=tally.replay())
    return ran


# ---- batch independence, causality, pointwise ------------------------------------------------------------
def _mixer_batch_prop(mixer: Any, case: fks.MixerCase) -> None:
    mixer.eval()
    x = case.tokens(mixer_dim(mixer))
    j = case.seed % case.batch
    x2 = x.clone()
    x2[j] = case.tokens(x.shape[-1], offset=1)[j]
    with torch.no_grad():
        out, out2 = mixer(x), mixer(x2)
    for i in range(case.batch):
        if i != j and not close(out[i], out2[i], UNCHANGED):
            fail(
                f"eval output of sample {i} changed (max abs diff {max_diff(out[i], out2[i]):.3g}) when only "
                f"sample {j} of the batch changed (input {tuple(x.shape)}): the mixer mixes across the batch"
            )


@conformance_check(*MIXERS, name="check_batch_independence")
def _batch_independence_mixer(
    subject: Subject, *, configs: Any = None, max_examples: int | None = None, seed: int | None = None
) -> int:
    """In eval mode, changing sample j of a batch does not change the output of any other sample."""
    return _run(
        subject,
        _mixer_batch_prop,
        "check_batch_independence",
        configs=configs,
        max_examples=max_examples,
        seed=seed,
        min_batch=2,
    )


def _causal_prop(mixer: Any, case: fks.MixerCase) -> None:
    mixer.eval()
    x = case.tokens(mixer_dim(mixer))
    b, n, c = case.batch, case.tokens_count, x.shape[-1]
    t = case.seed % (n - 1)
    flat = x.reshape(b, n, c).clone()
    flat[:, t + 1 :] = case.tokens(c, offset=1).reshape(b, n, c)[:, t + 1 :]
    with torch.no_grad():
        out = mixer(x).reshape(b, n, -1)[:, : t + 1]
        out2 = mixer(flat.reshape(x.shape)).reshape(b, n, -1)[:, : t + 1]
    if not close(out, out2, UNCHANGED):
        diff = (out - out2).abs().amax(dim=(0, 2))
        first = int(torch.nonzero(diff > UNCHANGED["atol"])[0]) if bool((diff > UNCHANGED["atol"]).any()) else 0
        fail(
            f"declared causal, but the output at flattened position {first} changed (max abs diff "
            f"{max_diff(out, out2):.3g}) when only positions > {t} changed (input {tuple(x.shape)})"
        )


@conformance_check("token_mixer", name="check_causality")
def _causality(
    subject: Subject, *, configs: Any = None, max_examples: int | None = None, seed: int | None = None
) -> int:
    """For instances with ``causal=True`` (a Config field ``causal`` is set True for this check), the
    eval output at flattened position t does not depend on inputs at positions > t. Skipped when no
    instance is causal; a causal mixer on which no case can run fails."""
    fixed = {"causal": True} if "causal" in subject.config_cls.model_fields else None
    tally = run_mixer_cases(
        subject,
        _causal_prop,
        check="check_causality",
        configs=configs,
        max_examples=max_examples,
        seed=seed,
        fixed=fixed,
        min_tokens=2,
        accept=lambda m: bool(getattr(m, "causal", False)),
    )
    if not tally.claimed:
        raise SkipCheck("not causal: no instance tried has causal=True, so there is no causality to check")
    return require_ran(tally)


def _pointwise_prop(mixer: Any, case: fks.MixerCase) -> None:
    mixer.eval()
    x = case.tokens(mixer_dim(mixer))
    b, n, c = case.batch, case.tokens_count, x.shape[-1]
    p = case.seed % n
    flat = x.reshape(b, n, c).clone()
    flat[:, p] = case.tokens(c, offset=1).reshape(b, n, c)[:, p]
    with torch.no_grad():
        out = mixer(x).reshape(b, n, -1)
        out2 = mixer(flat.reshape(x.shape)).reshape(b, n, -1)
    keep = [i for i in range(n) if i != p]
    if not close(out[:, keep], out2[:, keep], UNCHANGED):
        diff = (out[:, keep] - out2[:, keep]).abs().amax(dim=(0, 2))
        where = keep[int(diff.argmax())]
        fail(
            f"declared pointwise, but the output at token {where} changed (max abs diff {float(diff.max()):.3g}) "
            f"when only token {p} changed (input {tuple(x.shape)}); set pointwise = False if it mixes tokens"
        )


@conformance_check("channel_mixer", name="check_pointwise")
def _pointwise(
    subject: Subject, *, configs: Any = None, max_examples: int | None = None, seed: int | None = None
) -> int:
    """Where ``pointwise`` is True, each token is transformed on its own: changing token p (eval mode)
    changes no other token's output."""
    tally = run_mixer_cases(
        subject,
        _pointwise_prop,
        check="check_pointwise",
        configs=configs,
        max_examples=max_examples,
        seed=seed,
        min_tokens=2,
        accept=lambda m: bool(getattr(m, "pointwise", True)),
    )
    if not tally.claimed:
        raise SkipCheck("declares pointwise = False: token-wise independence is not claimed")
    return require_ran(tally)


# ---- state_dict, config and determinism (shared with models) -------------------------------------------
def _mixer_probe(subject: Subject, case: fks.MixerCase) -> Probe:
    return Probe(
        subject=subject,
        config=case_config(subject, case),
        make_input=lambda m, s: case.tokens(mixer_dim(m), offset=s - case.seed),
        forward=call,
        where=f"{describe_config(case.config)}, input ({case.batch}, {', '.join(map(str, case.spatial))}, C)",
    )


def _probe_check(name: str, prop: Callable[[Probe, int], None], doc: str) -> None:
    """Register check ``name`` for mixers: ``prop`` on a probe built for every explicit and drawn case."""

    def impl(subject: Subject, *, configs: Any = None, max_examples: int | None = None, seed: int | None = None) -> int:
        return _run(
            subject,
            lambda m, case: prop(_mixer_probe(subject, case), case.seed),
            name,
            configs=configs,
            max_examples=max_examples,
            seed=seed,
        )

    impl.__doc__ = doc
    conformance_check(*MIXERS, name=name)(impl)


_probe_check(
    "check_state_dict_round_trip",
    prop_state_dict,
    "A new instance (built under another seed) that loads ``state_dict()`` of a trained-mode instance gives "
    "the identical eval output.",
)
_probe_check(
    "check_config_round_trip",
    prop_config_round_trip,
    '``Config.model_validate(config.model_dump(mode="json"))`` equals the config and builds (under the same '
    "seed) a component with the identical state and output.",
)
_probe_check(
    "check_determinism",
    prop_determinism,
    "Two instances built and run (train mode, dropout included) under the same ``torch.manual_seed`` have "
    "identical state and outputs.",
)
