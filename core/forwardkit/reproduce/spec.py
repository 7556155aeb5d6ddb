"""What a plugin declares about its miniature reproduction (torch-free).

A plugin declares it in its light registration hook::

    registry.add_reproduction(spec="forwardkit_x.reproduction:SPEC")   # a ReproductionSpec (or a dict)
    registry.add_reproduction(spec="forwardkit_x:reproduction.yaml")   # a YAML file inside the package

Every arm is ``base`` deep-merged with the arm's overrides; with ``--smoke`` the ``smoke`` overrides are
merged on top; the experiment's ``seed`` is set to each seed in turn.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from importlib.resources import files
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from forwardkit.config import ComponentConfig, issues_from_validation
from forwardkit.errors import ConfigError, ConfigIssue, ForwardkitError


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` merged in: mappings merge key by key, anything else is replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class ReproductionSpec(ComponentConfig):
    """A paper's claim and the small experiment that tests it, arm against arm, over several seeds."""

    paper: str = Field(description="the paper's title")
    arxiv: str | None = Field(None, description="the paper's arXiv id")
    claim: str = Field(min_length=1, description="the paper's claim, in words")
    paper_result: str = Field(min_length=1, description="the paper's number, as text (e.g. '+1.2 top-1 on ImageNet')")
    base: dict[str, Any] = Field(description="an Experiment mapping shared by every arm")
    arms: dict[str, dict[str, Any]] = Field(description="arm name -> overrides deep-merged into base")
    baseline_arm: str = "baseline"
    method_arm: str = "method"
    metric: str = Field("test/accuracy", description="a key of the trainer's final metrics")
    direction: Literal["higher", "lower"] = Field("higher", description="which way the metric is better")
    claim_type: Literal["superiority", "non_inferiority"] = Field(
        "superiority", description="superiority: the method beats the baseline by min_effect; non_inferiority: "
        "the method is at most `margin` worse (for 'on par at a lower cost' claims)")
    min_effect: float = Field(0.0, ge=0.0, description="superiority: the method must beat the baseline by this much")
    margin: float = Field(0.0, ge=0.0, description="non_inferiority: how much worse the method may be")
    paired: bool = Field(False, description="compare arms seed by seed: the spread is the std of the per-seed "
                         "differences (the arms of one seed share its data and initialisation)")
    seed_data: bool = Field(False, description="also set data.seed to each run's seed, so seeds vary the data "
                            "(e.g. a generated graph), not only the initialisation")
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    smoke: dict[str, Any] = Field(default_factory=lambda: {"trainer": {"max_steps": 3, "epochs": 1}},
                                  description="overrides applied to every arm with --smoke")
    expected_minutes: float = Field(5.0, gt=0.0, description="how long a full run should take")

    @model_validator(mode="after")
    def _check_arms(self) -> ReproductionSpec:
        for field in ("baseline_arm", "method_arm"):
            name = getattr(self, field)
            if name not in self.arms:
                raise ValueError(f"{field} {name!r} is not one of the arms ({', '.join(self.arms) or 'none'})")
        if self.claim_type == "non_inferiority" and self.min_effect:
            raise ValueError("min_effect is for superiority claims; a non_inferiority claim uses margin")
        if self.claim_type == "superiority" and self.margin:
            raise ValueError("margin is for non_inferiority claims; a superiority claim uses min_effect")
        if self.baseline_arm == self.method_arm:
            raise ValueError("baseline_arm and method_arm must be different arms")
        if len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ValueError(f"seeds must be distinct non-negative integers, got {self.seeds}")
        return self

    def experiment(self, arm: str, seed: int, *, smoke: bool = False, name: str = "reproduce") -> dict[str, Any]:
        """The experiment mapping of one (arm, seed) run."""
        exp = deep_merge(self.base, self.arms[arm])
        if smoke:
            exp = deep_merge(exp, self.smoke)
        exp = deep_merge(exp, {"trainer": {"progress": "none", "plots": False}})
        exp["seed"] = seed
        if self.seed_data:
            exp["data"] = {"name": exp["data"]} if isinstance(exp["data"], str) else exp["data"]
            exp["data"]["seed"] = seed
        exp["name"] = f"{name}-{arm}-s{seed}"
        return exp


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
            import yaml

            data: Any = yaml.safe_load(files(package).joinpath(attr).read_text(encoding="utf-8"))
        else:
            from forwardkit.registry import import_path

            data = import_path(path)
    except Exception as exc:
        raise ForwardkitError(f"cannot load the reproduction spec {path!r}: {type(exc).__name__}: {exc}") from exc
    return parse_spec(data, source=path)
