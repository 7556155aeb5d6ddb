"""What a plugin declares about its miniature reproduction (torch-free).

A plugin declares it in its light registration hook::

    registry.add_reproduction(spec="forwardkit_x.reproduction:SPEC")   # a ReproductionSpec (or a dict)
    registry.add_reproduction(spec="forwardkit_x:reproduction.yaml")   # a YAML file inside the package

The spec is the preregistration: the card's pass bar word for word (``pass_bar``), the arms, and the
``conditions`` that transcribe that bar into checks on measured figures (see
:mod:`forwardkit.reproduce.conditions`). An arm is either an experiment (``base`` deep-merged with the
arm's overrides; with ``--smoke`` the ``smoke`` overrides on top, then the arm's own ``smoke`` entry if it
has one (to shrink what ``smoke`` cannot reach, e.g. a compressor inside a list); the experiment's
``seed`` set to each seed in turn) or a *program*:
``{"program": "package.module:function", "config": {...}, "smoke": {...}}``, a function
``function(config, *, seed, smoke) -> {figure: number}`` for measurements that are not one training run
(a zoo of models, a latency ratio).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from importlib.resources import files
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from forwardkit.config import ComponentConfig, issues_from_validation
from forwardkit.errors import ConfigError, ConfigIssue, ForwardkitError
from forwardkit.reproduce.conditions import Condition
from forwardkit.reproduce.stats import DEFAULT_LEVEL

#: fields of the single-comparison specs before conditions; a spec that still uses them is told where they went
RETIRED = ("baseline_arm", "method_arm", "claim_type", "min_effect", "margin")
#: fields that do not change what a full run measures, left out of the spec's hash
UNHASHED = ("smoke", "expected_minutes")


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` merged in: mappings merge key by key, anything else is replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class ProgramArm(BaseModel):
    """An arm measured by a function instead of one training run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    program: str = Field(pattern=r"^[\w.]+:[\w.]+$", description="'package.module:function'")
    config: dict[str, Any] = Field(default_factory=dict, description="passed to the function")
    smoke: dict[str, Any] = Field(default_factory=dict, description="merged into config with --smoke")


class ReproductionSpec(ComponentConfig):
    """A paper's claim, the card's pass bar, the arms that test it and the conditions that decide it."""

    moved_fields: ClassVar[dict[str, str]] = {
        k: "a spec states its pass bar as `conditions` now, e.g. {kind: compare, method: ..., baseline: ..., "
           "test: superiority}; see docs/measuring.md" for k in RETIRED}

    paper: str = Field(description="the paper's title")
    arxiv: str | None = Field(None, description="the paper's arXiv id")
    claim: str = Field(min_length=1, description="the paper's claim, in words")
    paper_result: str = Field(min_length=1, description="the paper's number, as text (e.g. '+1.2 top-1 on ImageNet')")
    pass_bar: str = Field(min_length=1, description="the spec card's pass bar, word for word, written down before "
                          "the first full run")
    deviations: list[str] = Field(default_factory=list, description="what this spec changes from the card (budget, "
                                  "data, arms), for every arm alike, and why")
    base: dict[str, Any] = Field(default_factory=dict, description="an Experiment mapping shared by every "
                                 "experiment arm")
    arms: dict[str, dict[str, Any]] = Field(min_length=1, description="arm name -> overrides deep-merged into base, "
                                            "or a program arm {program, config, smoke}")
    conditions: list[Condition] = Field(min_length=1, description="the pass bar as checks; the spec reproduces when "
                                        "every condition does")
    headline: int = Field(0, ge=0, description="the index of the condition quoted first in tables")
    metric: str = Field("test/accuracy", description="the default figure of conditions: a key of the final metrics")
    direction: Literal["higher", "lower"] = Field("higher", description="the default direction of conditions")
    level: float = Field(DEFAULT_LEVEL, gt=0.5, lt=1.0, description="two-sided confidence level of every interval "
                         "(0.90: a one-sided 95% test of a directional claim)")
    paired: bool = Field(True, description="compare arms seed by seed (paired t): the arms of one seed share its "
                         "data and initialisation; false: Welch's t")
    seed_data: bool = Field(False, description="also set data.seed to each run's seed, so seeds vary the data "
                            "(e.g. a generated graph), not only the initialisation")
    exclusive: list[str] = Field(default_factory=list, description="arms that measure time: they run after the "
                                 "others, one run at a time with every core, so no other run shares the machine")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    smoke: dict[str, Any] = Field(default_factory=lambda: {"trainer": {"max_steps": 3, "epochs": 1}},
                                  description="overrides applied to every experiment arm with --smoke")
    expected_minutes: float = Field(5.0, gt=0.0, description="how long a full run should take")

    @model_validator(mode="after")
    def _check_arms(self) -> ReproductionSpec:
        for name, arm in self.arms.items():
            if "program" in arm:
                try:
                    ProgramArm.model_validate(arm)
                except ValidationError as err:
                    raise ValueError(f"arm {name!r}: {err.errors()[0]['msg']} ({err.errors()[0]['loc']})") from None
            elif not self.base:
                raise ValueError(f"arm {name!r} is an experiment arm but base is empty")
        for i, cond in enumerate(self.conditions):
            unknown = sorted(cond.arms() - set(self.arms))
            if unknown:
                raise ValueError(f"conditions.{i} names arms that do not exist: {', '.join(unknown)} "
                                 f"(arms: {', '.join(self.arms)})")
        unknown = sorted(set(self.exclusive) - set(self.arms))
        if unknown:
            raise ValueError(f"exclusive names arms that do not exist: {', '.join(unknown)}")
        if self.headline >= len(self.conditions):
            raise ValueError(f"headline {self.headline} is not the index of a condition "
                             f"(0..{len(self.conditions) - 1})")
        if len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ValueError(f"seeds must be distinct non-negative integers, got {self.seeds}")
        return self

    def program(self, arm: str) -> ProgramArm | None:
        """The program of a program arm, else None."""
        data = self.arms[arm]
        return ProgramArm.model_validate(data) if "program" in data else None

    def used_arms(self) -> list[str]:
        """Arms some condition reads, in declaration order (the rest are exploratory)."""
        used = set().union(*(c.arms() for c in self.conditions))
        return [a for a in self.arms if a in used]

    def experiment(self, arm: str, seed: int, *, smoke: bool = False, name: str = "reproduce") -> dict[str, Any]:
        """The experiment mapping of one (arm, seed) run."""
        if self.program(arm) is not None:
            raise ForwardkitError(f"arm {arm!r} is a program arm, not an experiment")
        overrides = dict(self.arms[arm])
        arm_smoke = overrides.pop("smoke", {})
        exp = deep_merge(self.base, overrides)
        if smoke:
            exp = deep_merge(deep_merge(exp, self.smoke), arm_smoke)
        exp = deep_merge(exp, {"trainer": {"progress": "none", "plots": False}})
        exp["seed"] = seed
        if self.seed_data:
            exp["data"] = {"name": exp["data"]} if isinstance(exp["data"], str) else exp["data"]
            exp["data"]["seed"] = seed
        exp["name"] = f"{name}-{arm}-s{seed}"
        return exp

    def program_config(self, arm: str, *, smoke: bool = False) -> tuple[str, dict[str, Any]]:
        """``(function path, config)`` of a program arm."""
        prog = self.program(arm)
        if prog is None:
            raise ForwardkitError(f"arm {arm!r} is an experiment arm, not a program")
        return prog.program, deep_merge(prog.config, prog.smoke) if smoke else dict(prog.config)

    def fingerprint(self) -> str:
        """The spec's hash: sha256 of its canonical JSON without the fields in :data:`UNHASHED` and without
        the values left at their defaults, so that a field the core adds later (with a default) does not
        change the hash of every spec written before it."""
        return spec_hash(self.model_dump(mode="json", exclude_defaults=True))


def spec_hash(dumped: Mapping[str, Any]) -> str:
    """sha256 (first 16 hex digits) of a dumped spec's canonical JSON, without :data:`UNHASHED` fields."""
    data = {k: v for k, v in dumped.items() if k not in UNHASHED}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def canonical_hash(dumped: Mapping[str, Any] | None, recorded: str | None = None) -> str | None:
    """The :meth:`ReproductionSpec.fingerprint` of a spec stored in a results file (any earlier dump of
    it), or ``recorded`` (else the raw dump's hash) when it no longer parses as a spec (older formats)."""
    if not isinstance(dumped, Mapping):
        return recorded
    try:
        return ReproductionSpec.model_validate(dict(dumped)).fingerprint()
    except (ValidationError, ValueError, TypeError):
        return recorded or spec_hash(dumped)


def parse_spec(data: Any, *, source: str | None = None) -> ReproductionSpec:
    """A validated spec from a mapping (or a spec); errors name the field, e.g. ``arms.method: ...``."""
    if isinstance(data, ReproductionSpec):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError([ConfigIssue("", f"expected a mapping, got {type(data).__name__}")], source=source)
    try:
        return ReproductionSpec.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(issues_from_validation(err), source=source) from None


def load_spec(path: str) -> ReproductionSpec:
    """Import the spec a plugin declared: ``"module:ATTR"`` or ``"package:file.yaml"``."""
    package, _, attr = path.partition(":")
    try:
        if attr.endswith((".yaml", ".yml")):
            from forwardkit.config.files import load_yaml

            data: Any = load_yaml(files(package).joinpath(attr).read_text(encoding="utf-8"))
        else:
            from forwardkit.registry import import_path

            data = import_path(path)
    except Exception as exc:
        raise ForwardkitError(f"cannot load the reproduction spec {path!r}: {type(exc).__name__}: {exc}") from exc
    return parse_spec(data, source=path)
