"""Multi-stage experiments: pre-train, then fine-tune or probe, then compress, as one run (torch-free).

A multi-stage experiment is a list of stages. Each stage is written as changes to the one before it:
its ``data``, ``model``, ``adapters``, ``learning_rule`` and ``trainer`` are the previous stage's,
deep-merged with what the stage sets (mappings merge key by key, anything else is replaced), while
``callbacks``, ``compressors``, ``analyzers`` and ``test_time`` belong to the stage alone. The first
stage starts from ``base``. ``carry`` says which weights of the previous stage's final model the stage's
model starts from (all of them by default; ``include`` / ``exclude`` name prefixes such as ``head``);
``freeze`` names the parameters (glob patterns) that stay fixed during the stage, e.g. a linear probe.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError, model_validator

from forwardkit.config.base import ComponentConfig
from forwardkit.config.experiment import Experiment, validate_experiment
from forwardkit.config.issues import issues_from_validation
from forwardkit.errors import ConfigError, ConfigIssue
from forwardkit.registry import Registry

#: what a stage takes over from the stage before it (the rest is its own)
INHERITED = ("data", "model", "adapters", "learning_rule", "trainer")
OWN = ("callbacks", "compressors", "analyzers", "test_time")


class CarryConfig(ComponentConfig):
    """Which weights of an earlier stage's final model a stage's model starts from."""

    source: str | None = Field(None, description="the stage to carry from (default: the previous one)")
    include: list[str] = Field(default_factory=list, description="name prefixes to carry (empty: every weight)")
    exclude: list[str] = Field(default_factory=list, description="name prefixes not carried (e.g. a new head)")
    strict: bool = Field(True, description="every carried weight must exist in the new model, with its shape")


class StageConfig(ComponentConfig):
    """One stage: its name and what it changes; every experiment field is optional here."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="the stage's folder is <index>-<name>")
    data: Any = None
    model: Any = None
    adapters: Any = None
    learning_rule: Any = None
    trainer: dict[str, Any] = Field(default_factory=dict)
    callbacks: list[Any] = Field(default_factory=list)
    compressors: list[Any] = Field(default_factory=list)
    analyzers: list[Any] = Field(default_factory=list)
    test_time: Any = None
    carry: CarryConfig | None = Field(default_factory=CarryConfig,
                                      description="null: the stage's model starts from its own initialisation")
    freeze: list[str] = Field(default_factory=list, description="glob patterns of parameter names kept fixed")


class MultiStageExperiment(ComponentConfig):
    """Stages run in order in one run directory, each in its own folder, the model carried on."""

    name: str = "stages"
    seed: int = Field(0, ge=0, le=2**32 - 1)
    base: dict[str, Any] = Field(default_factory=dict, description="experiment fields the first stage starts from")
    stages: list[StageConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> MultiStageExperiment:
        names = [s.name for s in self.stages]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"stage names must be unique, repeated: {', '.join(dup)}")
        for i, stage in enumerate(self.stages):
            carry = stage.carry
            if carry is not None and carry.source is not None and carry.source not in names[:i]:
                raise ValueError(f"stages.{i}.carry.source {carry.source!r} is not an earlier stage "
                                 f"({', '.join(names[:i]) or 'none'})")
        if self.stages[0].carry is not None and self.stages[0].carry.source is not None:
            raise ValueError("the first stage has no earlier stage to carry from")
        return self

    def experiments(self, *, registry: Registry | None = None) -> list[Experiment]:
        """Every stage's whole experiment, validated; errors name ``stages.<i>.<field>``."""
        out: list[Experiment] = []
        current: dict[str, Any] = {k: v for k, v in self.base.items() if k in INHERITED}
        issues: list[ConfigIssue] = []
        for i, stage in enumerate(self.stages):
            for key in INHERITED:
                value = getattr(stage, key)
                if key == "trainer" or value is not None:
                    current[key] = _merge(current.get(key), value)
            data = {**current, **{k: getattr(stage, k) for k in OWN if getattr(stage, k)},
                    "name": f"{self.name}-{stage.name}", "seed": self.seed}
            try:
                out.append(validate_experiment(data, registry=registry))
            except ConfigError as err:
                issues += [ConfigIssue(f"stages.{i}" + (f".{x.loc}" if x.loc else ""), x.msg, x.allowed)
                           for x in err.issues]
        if issues:
            raise ConfigError(issues)
        return out

    def carry_source(self, index: int) -> int | None:
        """The index of the stage whose final model stage ``index`` starts from (None: no carry)."""
        stage = self.stages[index]
        if index == 0 or stage.carry is None:
            return None
        if stage.carry.source is None:
            return index - 1
        return [s.name for s in self.stages].index(stage.carry.source)


def _merge(old: Any, new: Any) -> Any:
    if isinstance(old, str) and isinstance(new, Mapping) and "name" not in new:
        old = {"name": old}  # {trainer: ..., model: {num_classes: 5}} changes the named model's fields
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        if "name" in new and isinstance(old, Mapping) and old.get("name") not in (None, new["name"]):
            return dict(new)  # another component: its own config, nothing of the old one's
        merged = dict(old)
        for key, value in new.items():
            merged[key] = _merge(merged.get(key), value)
        return merged
    return new


def is_multi_stage(data: Any) -> bool:
    return isinstance(data, Mapping) and "stages" in data


def validate_stages(data: Any, *, source: str | None = None, registry: Registry | None = None,
                    ) -> tuple[MultiStageExperiment, list[Experiment]]:
    """A multi-stage experiment and every stage's experiment, validated; raises ConfigError."""
    try:
        spec = data if isinstance(data, MultiStageExperiment) else MultiStageExperiment.model_validate(data)
    except ValidationError as err:
        raise ConfigError(issues_from_validation(err), source=source) from None
    try:
        return spec, spec.experiments(registry=registry)
    except ConfigError as err:
        raise ConfigError(err.issues, source=source) from None
