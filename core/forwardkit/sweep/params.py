"""The search space of a sweep: ``--param PATH=DISTRIBUTION(ARGS)`` parsed, checked, and applied.

Distributions (Optuna's, by name):

- ``uniform(LOW,HIGH)`` and ``loguniform(LOW,HIGH)``: a float (``suggest_float``, ``log=True`` for the second);
  ``uniform(LOW,HIGH,STEP)`` draws on a grid.
- ``int(LOW,HIGH)``, ``int(LOW,HIGH,STEP)`` and ``logint(LOW,HIGH)``: an integer (``suggest_int``).
- ``choice(A,B,...)``: one of the values, each read as YAML (``choice(32,64)``, ``choice(adamw,sgd)``,
  ``choice([8],[16,16])``); a value that is not a plain scalar is stored in the study as its JSON text.

``PATH`` is a dotted field path of the experiment (``learning_rule.lr``, ``model.hidden``,
``model.token_mixers.0.head_dim``), followed like ``forwardkit run --set``. Everything wrong with a parameter
(its syntax, its bounds, a path the experiment schema does not have, a value the field refuses) is a
:class:`SweepParamError` that names the parameter.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from forwardkit.errors import ConfigError, ForwardkitError

DISTRIBUTIONS: tuple[str, ...] = ("uniform", "loguniform", "int", "logint", "choice")
_SYNTAX = re.compile(r"^\s*(?P<path>[^=\s]+)\s*=\s*(?P<dist>[A-Za-z_]\w*)\s*\((?P<args>.*)\)\s*$", re.S)
_SCALARS = (bool, int, float, str)


class SweepParamError(ForwardkitError):
    """A ``--param`` that cannot be used; the message names it."""

    def __init__(self, param: str, problem: str) -> None:
        self.param, self.problem = param, problem
        super().__init__(f"--param {param!r}: {problem}")


@dataclass(frozen=True)
class ParamSpec:
    """One searched field: where it goes and what Optuna draws for it."""

    #: the ``--param`` text as given (what errors quote)
    text: str
    #: dotted field path in the experiment
    path: str
    #: one of :data:`DISTRIBUTIONS`
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    #: the values of a ``choice`` (as the experiment gets them)
    choices: tuple[Any, ...] = field(default_factory=tuple)

    @property
    def labels(self) -> list[Any]:
        """The categorical values Optuna stores for a ``choice``: scalars as they are, others as JSON text."""
        return [v if v is None or isinstance(v, _SCALARS) else json.dumps(v) for v in self.choices]

    def distribution(self) -> Any:
        """The Optuna distribution of this parameter."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "choice":
            return CategoricalDistribution(self.labels)
        assert self.low is not None and self.high is not None
        if self.kind in ("int", "logint"):
            return IntDistribution(int(self.low), int(self.high), log=self.kind == "logint",
                                   step=int(self.step or 1))
        return FloatDistribution(float(self.low), float(self.high), log=self.kind == "loguniform",
                                 step=None if self.step is None else float(self.step))

    def value(self, drawn: Any) -> Any:
        """The experiment value of what Optuna drew (a ``choice`` label back to its value)."""
        if self.kind == "choice":
            return self.choices[self.labels.index(drawn)]
        return drawn

    def corners(self) -> list[Any]:
        """Values that together exercise the field's validation: both bounds, or every choice."""
        if self.kind == "choice":
            return list(self.choices)
        return [self.low, self.high]

    def describe(self) -> str:
        """``loguniform(0.0001, 0.01)``: the distribution, as a person writes it."""
        if self.kind == "choice":
            return f"choice({', '.join(json.dumps(v) for v in self.choices)})"
        args = [self.low, self.high] + ([self.step] if self.step is not None else [])
        return f"{self.kind}({', '.join(f'{a:g}' for a in args)})"  # type: ignore[str-format]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (kept in the study, so a resumed sweep can tell whether its space changed)."""
        return {"path": self.path, "kind": self.kind, "low": self.low, "high": self.high, "step": self.step,
                "choices": list(self.choices)}


def _number(param: str, raw: str, *, integer: bool) -> float | int:
    text = raw.strip()
    try:
        number = float(text)
    except ValueError:
        raise SweepParamError(param, f"{text!r} is not a number") from None
    if not math.isfinite(number):
        raise SweepParamError(param, f"{text!r} is not a finite number")
    if integer:
        if number != int(number):
            raise SweepParamError(param, f"{text!r} is not an integer")
        return int(number)
    return number


def _choices(param: str, args: str) -> tuple[Any, ...]:
    """The values of ``choice(...)``: the argument list read as a YAML flow sequence."""
    import yaml

    from forwardkit.config.files import load_yaml

    try:
        values = load_yaml(f"[{args}]")
    except (yaml.YAMLError, ValueError) as exc:
        why = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SweepParamError(param, f"the choices ({args}) are not a YAML list ({why})") from None
    values = [_yaml_number(v) for v in values]
    if not values:
        raise SweepParamError(param, "choice() needs at least one value")
    labels = [v if v is None or isinstance(v, _SCALARS) else json.dumps(v) for v in values]
    if len(set(map(repr, labels))) != len(labels):
        raise SweepParamError(param, "a choice is given twice")
    return tuple(values)


def _yaml_number(value: Any) -> Any:
    """``"1e-4"`` (YAML 1.1 reads it as text) as the number a person meant; other values unchanged."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) and re.fullmatch(r"[+-]?\d+(\.\d*)?[eE][+-]?\d+", value) else value
    return value


def parse_param(text: str) -> ParamSpec:
    """One ``PATH=DISTRIBUTION(ARGS)``; raises :class:`SweepParamError` naming it."""
    match = _SYNTAX.match(text)
    if not match:
        raise SweepParamError(text, "expected PATH=DISTRIBUTION(ARGS), e.g. learning_rule.lr=loguniform(1e-4,1e-2) "
                                    f"(distributions: {', '.join(DISTRIBUTIONS)})")
    path, kind, args = match["path"], match["dist"], match["args"]
    if any(not part for part in path.split(".")):
        raise SweepParamError(text, f"{path!r} is not a dotted field path")
    if kind not in DISTRIBUTIONS:
        from forwardkit.errors import close_matches

        close = close_matches(kind, DISTRIBUTIONS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SweepParamError(text, f"unknown distribution {kind!r}{hint}; known: {', '.join(DISTRIBUTIONS)}")
    if kind == "choice":
        return ParamSpec(text=text, path=path, kind=kind, choices=_choices(text, args))
    parts = args.split(",")
    integer = kind in ("int", "logint")
    allowed = (2, 3) if kind in ("uniform", "int") else (2,)
    if len(parts) not in allowed:
        shape = f"{kind}(LOW,HIGH)" + (f" or {kind}(LOW,HIGH,STEP)" if 3 in allowed else "")
        raise SweepParamError(text, f"expected {shape}, got {len(parts)} argument{'s' if len(parts) != 1 else ''}")
    numbers = [_number(text, p, integer=integer) for p in parts]
    low, high = numbers[0], numbers[1]
    step = numbers[2] if len(numbers) == 3 else None
    if not low < high:
        raise SweepParamError(text, f"the lower bound {low:g} must be below the upper bound {high:g}")
    if kind in ("loguniform", "logint") and low <= 0:
        raise SweepParamError(text, f"a log scale needs a positive lower bound, got {low:g}")
    if step is not None and step <= 0:
        raise SweepParamError(text, f"the step must be positive, got {step:g}")
    return ParamSpec(text=text, path=path, kind=kind, low=low, high=high, step=step)


def parse_params(texts: Sequence[str]) -> list[ParamSpec]:
    """Every ``--param``, each checked on its own; a path given twice is an error too."""
    specs = [parse_param(t) for t in texts]
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.path in seen:
            raise SweepParamError(spec.text, f"{spec.path} is already searched by --param {seen[spec.path]!r}")
        seen[spec.path] = spec.text
    if not specs:
        raise ForwardkitError("a sweep needs at least one --param PATH=DISTRIBUTION(ARGS)")
    return specs


def set_value(tree: dict[str, Any], path: str, value: Any) -> None:
    """Put ``value`` at the dotted ``path`` of ``tree`` (as ``forwardkit run --set`` does: a number indexes a
    list, missing mappings are created, a component given by name becomes ``{name: ...}``); raises
    ValueError saying which part cannot be followed."""
    parts = path.split(".")
    node: Any = tree
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ValueError(f"{'.'.join(parts[:i])} is a list of {len(node)} entries; {part!r} is not one "
                                 f"of its indices")
            key: Any = int(part)
        elif isinstance(node, dict):
            key = part
        else:
            raise ValueError(f"{'.'.join(parts[:i])} is {node!r}, not a mapping or a list")
        if last:
            node[key] = value
            return
        child = node[key] if isinstance(node, list) else node.get(key)
        if child is None:
            child = node[key] = {}
        elif isinstance(child, str):
            child = node[key] = {"name": child}
        node = child


def apply_params(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of the experiment mapping ``base`` with each ``{path: value}`` set."""
    out = copy.deepcopy(base)
    for path, value in values.items():
        set_value(out, path, value)
    return out


def check_params(base: dict[str, Any], specs: Sequence[ParamSpec]) -> None:
    """Validate the experiment with each parameter alone at each of its corners, then with all of them at
    their first: a path the schema does not have, or a value its field refuses, names the parameter."""
    for spec in specs:
        for corner in spec.corners():
            _check(base, {spec.path: corner}, specs, blame=spec)
    _check(base, {s.path: s.corners()[0] for s in specs}, specs, blame=None)


def _check(base: dict[str, Any], values: dict[str, Any], specs: Sequence[ParamSpec], *,
           blame: ParamSpec | None) -> None:
    """Validate ``base`` with ``values``; a problem is raised against ``blame``, else against the first
    parameter it concerns."""
    from forwardkit.config import validate_experiment

    try:
        data = apply_params(base, values)
    except ValueError as exc:
        spec = blame or specs[0]
        raise SweepParamError(spec.text, f"{spec.path} cannot be set: {exc}") from None
    try:
        validate_experiment(data)
    except ConfigError as exc:
        spec = blame or next((s for s in specs if any(_concerns(i.loc, s.path) for i in exc.issues)), specs[0])
        mine = [i for i in exc.issues if _concerns(i.loc, spec.path)] or exc.issues
        problems = "; ".join(i.render() for i in mine[:3])
        elsewhere = [p for p in field_paths(base) if p.rsplit(".", 1)[-1] == spec.path.rsplit(".", 1)[-1]
                     and p != spec.path]
        hint = f" (the experiment has {' and '.join(elsewhere[:3])})" if elsewhere else ""
        shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in values.items())
        raise SweepParamError(spec.text, f"the experiment does not accept {shown}{hint}: {problems}") from None


def field_paths(base: dict[str, Any]) -> list[str]:
    """Every dotted field path of the experiment with its defaults filled in (empty when it is invalid)."""
    from forwardkit.config import validate_experiment

    try:
        full = validate_experiment(base).to_dict(full=True)
    except ConfigError:
        return []
    out: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                out.append(f"{prefix}{key}")
                walk(child, f"{prefix}{key}.")

    walk(full, "")
    return out


def _concerns(loc: str, path: str) -> bool:
    """Whether a validation issue at ``loc`` is about the field ``path`` (or a mapping on its way)."""
    return loc == path or path.startswith(loc + ".") or loc.startswith(path + ".") or not loc
