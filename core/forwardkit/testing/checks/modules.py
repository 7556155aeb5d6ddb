"""Properties shared by every ``nn.Module`` kind (mixers and models): state_dict and config round trips,
determinism, and the gradient rules (every trainable parameter gets a finite, non-zero gradient).

Gradient rule
    On every case a trainable parameter must receive a gradient (not None; a mixer is also tried at
    its other supported ranks) that is finite, and over all the cases of a check every trainable
    parameter must receive an exactly non-zero gradient at least once: a parameter multiplied by zero,
    or cut off from the output, fails. A component declares the parameters that get no (or a zero)
    gradient by design with ``gradient_exempt``, a ClassVar mapping an :func:`fnmatch.fnmatchcase`
    pattern of parameter names to the reason::

        gradient_exempt = {"blocks.*.gamma_skip": "zero-initialised residual gate: no gradient upstream at init"}

    When only exempt parameters get a zero gradient the check ends ``xfailed`` with the reasons (it is
    counted like a declared expected failure); a pattern whose parameters all got a non-zero gradient,
    or that matches no parameter, ends ``xpassed`` (a failure: remove the stale declaration).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import torch
from pydantic import BaseModel
from torch import nn

from forwardkit.testing.checks.common import DeclaredFailure, StaleDeclaration, Subject, fail
from forwardkit.testing.checks.declarations import json_round_trip
from forwardkit.testing.checks.helpers import assert_same_outputs, assert_same_state, seeded

__all__ = [
    "GradientLedger",
    "Probe",
    "enforce_nonzero_gradients",
    "exempt_reason",
    "missing_gradients",
    "prop_config_round_trip",
    "prop_determinism",
    "prop_state_dict",
]


# ---- gradients -----------------------------------------------------------------------------------------
def exempt_reason(name: str, exempt: Mapping[str, str]) -> str | None:
    """The reason of the first ``gradient_exempt`` pattern matching parameter ``name`` (None if none)."""
    for pattern, reason in exempt.items():
        if fnmatchcase(name, pattern):
            return reason
    return None


def missing_gradients(module: nn.Module, exempt: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """Trainable parameters with no gradient (exempt ones left out), and those with a non-finite one."""
    missing, nonfinite = [], []
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        if p.grad is None:
            if exempt_reason(name, exempt) is None:
                missing.append(name)
        elif not torch.isfinite(p.grad).all():
            nonfinite.append(name)
    return missing, nonfinite


@dataclass
class GradientLedger:
    """Which trainable parameters (by name) a check has seen, and which got a non-zero gradient."""

    seen: set[str] = field(default_factory=set)
    nonzero: set[str] = field(default_factory=set)
    cases: int = 0

    def record(self, module: nn.Module) -> None:
        """Note the gradients left on ``module``'s parameters by one case."""
        self.cases += 1
        for name, p in module.named_parameters():
            if not p.requires_grad:
                continue
            self.seen.add(name)
            if p.grad is not None and bool(torch.count_nonzero(p.grad)):
                self.nonzero.add(name)

    def zero(self) -> list[str]:
        """Parameters whose gradient was None or exactly zero on every case."""
        return sorted(self.seen - self.nonzero)


def _stale_exemptions(ledger: GradientLedger, exempt: Mapping[str, str]) -> list[str]:
    zero = ledger.zero()
    stale = []
    for pattern, reason in exempt.items():
        if any(fnmatchcase(n, pattern) for n in zero):
            continue
        hits = sorted(n for n in ledger.seen if fnmatchcase(n, pattern))
        why = f"its parameters {hits[:5]} got a non-zero gradient" if hits else "it matches no trainable parameter"
        stale.append(f"{pattern!r} ({reason}): {why}")
    return stale


def enforce_nonzero_gradients(ledger: GradientLedger, exempt: Mapping[str, str], where: str, hint: str = "") -> None:
    """The non-zero rule over all cases of a check, with the component's ``gradient_exempt``."""
    zero = ledger.zero()
    unexplained = [n for n in zero if exempt_reason(n, exempt) is None]
    if unexplained:
        fail(
            f"trainable parameter(s) {unexplained} got no or an exactly zero gradient on every one of the "
            f"{ledger.cases} case(s) tried ({where}): they do not affect the output; fix the computation, "
            "remove them, or declare them with a reason in gradient_exempt = {'<name pattern>': '<reason>'}"
            + (f". {hint}" if hint else "")
        )
    stale = _stale_exemptions(ledger, exempt)
    if stale:
        raise StaleDeclaration(f"gradient_exempt no longer applies: {'; '.join(stale)}; remove it from gradient_exempt")
    if zero:
        declared = "; ".join(f"{n}: {exempt_reason(n, exempt)}" for n in zero)
        raise DeclaredFailure(
            f"declared in gradient_exempt [zero gradient on all {ledger.cases} case(s): {declared}]; "
            "every other gradient property holds"
        )


# ---- state_dict, config and determinism ------------------------------------------------------------------
@dataclass
class Probe:
    """How to build one module and feed it: the shared state_dict/config/determinism properties."""

    subject: Subject
    config: BaseModel | Mapping[str, Any]
    make_input: Callable[[nn.Module, int], Any]  # (instance, seed) -> input
    forward: Callable[[nn.Module, Any], Any]
    where: str

    def build(self, seed: int, config: Any = None) -> nn.Module:
        """An instance under ``seed`` (from the probe's config, or ``config``)."""
        return seeded(seed, lambda: self.subject.build(self.config if config is None else config))


def prop_state_dict(probe: Probe, seed: int) -> None:
    """A new instance (another seed) that loads a trained-mode instance's state gives the same eval output."""
    a = probe.build(seed)
    x = probe.make_input(a, seed)
    a.train()
    with torch.no_grad():  # move running statistics away from their initial values
        probe.forward(a, x)
        probe.forward(a, probe.make_input(a, seed + 1))
    b = probe.build(seed + 1)
    state = a.state_dict()
    try:
        b.load_state_dict(state)
    except Exception as exc:
        fail(
            f"a new instance cannot load_state_dict() the state of another ({probe.where}): {type(exc).__name__}: {exc}"
        )
    a.eval()
    b.eval()
    with torch.no_grad():
        assert_same_outputs(
            probe.forward(a, x),
            probe.forward(b, x),
            f"a new instance (other seed) with load_state_dict(state_dict()) gives a different eval output "
            f"({probe.where}); state that matters is not in the state_dict (plain tensor attributes? "
            "non-persistent buffers?)",
        )


def prop_config_round_trip(probe: Probe, seed: int) -> None:
    """The config's JSON round trip builds, under the same seed, the same state and output."""
    a = probe.build(seed)
    again = json_round_trip(probe.subject, a)
    b = probe.build(seed, again)
    assert_same_state(
        a.state_dict(),
        b.state_dict(),
        f"instances built under the same seed from the config and its JSON round trip ({probe.where})",
    )
    x = probe.make_input(a, seed)
    a.eval()
    b.eval()
    with torch.no_grad():
        assert_same_outputs(
            probe.forward(a, x),
            probe.forward(b, x),
            f"the config's JSON round trip builds a component with a different output ({probe.where})",
        )


def prop_determinism(probe: Probe, seed: int) -> None:
    """Two instances built and run (train mode) under the same seed have the same state and outputs."""
    outs, states = [], []
    for _ in range(2):
        m = probe.build(seed)
        x = probe.make_input(m, seed)
        m.train()
        torch.manual_seed(seed + 3)
        with torch.no_grad():
            outs.append(probe.forward(m, x))
        states.append(m.state_dict())
    assert_same_state(states[0], states[1], f"two instances built after torch.manual_seed({seed}) ({probe.where})")
    assert_same_outputs(
        outs[0], outs[1], f"two instances built and run (train mode) under the same torch.manual_seed ({probe.where})"
    )
