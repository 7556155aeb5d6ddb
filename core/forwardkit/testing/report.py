"""Outcomes of conformance checks and the report that counts them (torch-free).

Every check run ends in exactly one of five states, all counted and shown, so that nothing skipped
looks green:

``passed``   the property holds.
``failed``   the property does not hold, or the check raised (counted as a failure).
``xfailed``  it failed, and the component declared that failure in ``expected_failures`` (with a reason).
``xpassed``  it passed although declared an expected failure: counted as a failure (remove the
             declaration, or find out why the check no longer sees the problem).
``skipped``  there was nothing to check (e.g. a mixer that is not causal has no causality to check),
             with the reason.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, TextIO

STATUSES: tuple[str, ...] = ("passed", "failed", "xfailed", "xpassed", "skipped")
FAILING: frozenset[str] = frozenset({"failed", "xpassed"})


@dataclass
class CheckOutcome:
    """The result of one check on one component."""

    component: str
    check: str
    status: str
    message: str = ""
    kind: str | None = None
    plugin: str | None = None
    duration: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def ok(self) -> bool:
        """False for ``failed`` and ``xpassed``."""
        return self.status not in FAILING

    @property
    def id(self) -> str:
        return f"{self.component}::{self.check}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckOutcome:
        return cls(**data)

    def __str__(self) -> str:
        text = f"{self.status.upper():8} {self.id}"
        return f"{text}: {self.message}" if self.message else text


class ConformanceReport:
    """Outcomes of conformance checks, with counts per status and a printable summary.

    >>> report = check_component(MyMixer)          # doctest: +SKIP
    >>> report.ok, report.counts                   # doctest: +SKIP
    (True, {'passed': 9, 'failed': 0, 'xfailed': 1, 'xpassed': 0, 'skipped': 1})
    >>> print(report.summary())                    # doctest: +SKIP
    """

    def __init__(self, outcomes: Iterable[CheckOutcome] = ()) -> None:
        self.outcomes: list[CheckOutcome] = list(outcomes)

    # ---- collecting ----------------------------------------------------------------------------
    def add(self, outcome: CheckOutcome) -> CheckOutcome:
        self.outcomes.append(outcome)
        return outcome

    def extend(self, other: ConformanceReport | Iterable[CheckOutcome]) -> ConformanceReport:
        self.outcomes.extend(other.outcomes if isinstance(other, ConformanceReport) else other)
        return self

    def __iter__(self) -> Iterator[CheckOutcome]:
        return iter(self.outcomes)

    def __len__(self) -> int:
        return len(self.outcomes)

    def __bool__(self) -> bool:  # an empty report is still a report
        return True

    # ---- counting ------------------------------------------------------------------------------
    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for outcome in self.outcomes:
            counts[outcome.status] += 1
        return counts

    @property
    def passed(self) -> int:
        return self.counts["passed"]

    @property
    def failed(self) -> int:
        return self.counts["failed"]

    @property
    def xfailed(self) -> int:
        return self.counts["xfailed"]

    @property
    def xpassed(self) -> int:
        return self.counts["xpassed"]

    @property
    def skipped(self) -> int:
        return self.counts["skipped"]

    @property
    def ok(self) -> bool:
        """True when no check failed and no declared expected failure passed."""
        return all(o.ok for o in self.outcomes)

    def problems(self) -> list[CheckOutcome]:
        """The failed and xpassed outcomes."""
        return [o for o in self.outcomes if not o.ok]

    def with_status(self, status: str) -> list[CheckOutcome]:
        return [o for o in self.outcomes if o.status == status]

    def components(self) -> list[str]:
        return list(dict.fromkeys(o.component for o in self.outcomes))

    def get(self, component: str, check: str) -> CheckOutcome:
        """The outcome of ``check`` on ``component`` (``component`` may be a suffix, e.g. the name)."""
        for o in self.outcomes:
            if o.check == check and (o.component == component or o.component.endswith(f"/{component}")):
                return o
        raise KeyError(f"no outcome for {component}::{check}")

    def status_of(self, check: str, component: str | None = None) -> str:
        """The status of ``check`` (on ``component``, or on the only component checked)."""
        for o in self.outcomes:
            if o.check == check and (
                component is None or o.component == component or o.component.endswith(f"/{component}")
            ):
                return o.status
        raise KeyError(f"no outcome for check {check!r}")

    # ---- showing -------------------------------------------------------------------------------
    def totals_line(self) -> str:
        c = self.counts
        parts = [f"{c[s]} {s}" for s in STATUSES]
        return f"{len(self.components())} component(s), {len(self)} check(s): " + ", ".join(parts)

    def table(self) -> str:
        """One row per component with its count of each status."""
        rows = [("component", *STATUSES)]
        for comp in self.components():
            own = [o for o in self.outcomes if o.component == comp]
            rows.append((comp, *(str(sum(o.status == s for o in own)) for s in STATUSES)))
        c = self.counts
        rows.append(("total", *(str(c[s]) for s in STATUSES)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]

        def fmt(row: tuple[str, ...]) -> str:
            first = row[0].ljust(widths[0])
            rest = "  ".join(cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True))
            return f"{first}  {rest}".rstrip()

        rule = "-" * len(fmt(rows[0]))
        return "\n".join([fmt(rows[0]), rule, *(fmt(r) for r in rows[1:-1]), rule, fmt(rows[-1])])

    def details(self, statuses: Iterable[str] = ("failed", "xpassed", "xfailed", "skipped"), *, width: int = 0) -> str:
        """One block per outcome with one of ``statuses``: status, component::check, message."""
        lines: list[str] = []
        for status in statuses:
            for o in self.with_status(status):
                message = o.message or ""
                if width and len(message) > width:
                    message = message[: width - 3] + "..."
                head = f"{status.upper():8} {o.id}"
                if "\n" in message:
                    lines.append(head)
                    lines.extend("    " + line for line in message.splitlines())
                else:
                    lines.append(f"{head}: {message}" if message else head)
        return "\n".join(lines)

    def summary(self, *, details: bool = True) -> str:
        """The table, the totals and (with ``details``) every non-passing outcome with its reason."""
        parts = ["forwardkit conformance", self.table(), self.totals_line()]
        if details:
            text = self.details()
            if text:
                parts.append(text)
        verdict = "OK" if self.ok else f"FAILED ({len(self.problems())} problem(s))"
        parts.append(verdict)
        return "\n".join(parts)

    def print(self, file: TextIO | None = None, *, details: bool = True) -> None:
        print(self.summary(details=details), file=file or sys.stdout)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        c = self.counts
        inner = ", ".join(f"{s}={c[s]}" for s in STATUSES)
        return f"ConformanceReport({inner})"

    def raise_for_failures(self) -> None:
        """Raise AssertionError listing every failed/xpassed check (no-op when :attr:`ok`)."""
        if not self.ok:
            body = self.details(("failed", "xpassed"))
            raise AssertionError(f"conformance failed: {self.totals_line()}\n{body}")

    def to_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "ok": self.ok, "outcomes": [o.to_dict() for o in self.outcomes]}
