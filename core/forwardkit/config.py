"""Typed configuration: component configs, component specs ``{name: ..., **config}`` and ``Experiment``.

Torch-free. A component spec names a registered component and carries its validated Config; specs
nest (a model config may hold token-mixer specs), and every problem is reported with its full field
path, e.g. ``model.token_mixers.2.head_dim: Input should be greater than or equal to 1``.

YAML, JSON, dicts and keyword arguments all go through :func:`validate_experiment`, so they validate
the same way.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from forwardkit.errors import ConfigError, ConfigIssue, ForwardkitError, UnknownComponentError
from forwardkit.registry import Registry, default_registry


class ComponentConfig(BaseModel):
    """Base of every component's Config: typed fields with defaults; unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    #: fields the component's holder sets (e.g. a mixer's ``dim``, given by the model's stage width);
    #: left out when a spec is written out unless they were set explicitly
    context_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_fields(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            known: set[str] = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
            unknown = [k for k in data if k not in known]
            if unknown:
                hints = []
                for key in unknown:
                    close = difflib.get_close_matches(str(key), sorted(known), n=1)
                    hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
                raise PydanticCustomError(
                    "unknown_field",
                    "unknown field {fields} for {model}",
                    {"fields": ", ".join(hints), "model": cls.__name__, "allowed": sorted(known)},
                )
        return data


def resolve_config(config_cls: type[ComponentConfig], config: Any, overrides: Mapping[str, Any]) -> Any:
    """A validated ``config_cls`` from a Config instance or mapping plus keyword overrides.

    Components call this in ``__init__(self, config=None, **overrides)`` so that both
    ``Attention(dim=64)`` and ``Attention(AttentionConfig(dim=64))`` work.
    """
    if config is None:
        data: dict[str, Any] = {}
    elif isinstance(config, BaseModel):
        if not overrides and isinstance(config, config_cls):
            return config
        data = dict(config)
    elif isinstance(config, Mapping):
        data = dict(config)
    else:
        raise TypeError(f"config must be a {config_cls.__name__} or a mapping, got {type(config).__name__}")
    data.update(overrides)
    try:
        return config_cls.model_validate(data)
    except ValidationError as err:
        raise ConfigError(issues_from_validation(err), source=config_cls.__name__) from None


class ComponentSpec:
    """A reference to a registered component with its validated config: ``{name: ..., **config}``.

    Subclasses fix the kind (:class:`TokenMixerSpec`, :class:`ModelSpec`, ...). In a pydantic model a
    field of that type accepts a name (``"pooling"``), a mapping (``{"name": "pooling", "pool_size": 5}``)
    or a spec, resolves the name against the registry and validates the rest against the Config.
    """

    kind: ClassVar[str] = ""
    __slots__ = ("config", "name", "registry")

    def __init__(self, name: str, config: BaseModel, *, registry: Registry | None = None) -> None:
        self.name = name
        self.config = config
        #: the registry the name was resolved in (None: the default one); :meth:`build` creates from it
        self.registry = registry

    def to_dict(self, *, exclude_unset: bool = False) -> dict[str, Any]:
        """``{"name": ..., **config}``; with ``exclude_unset`` only the fields that were given."""
        context = getattr(type(self.config), "context_fields", ())
        skip = {f for f in context if f not in self.config.model_fields_set}
        return {"name": self.name, **self.config.model_dump(mode="json", exclude=skip, exclude_unset=exclude_unset)}

    def build(self, **context: Any) -> Any:
        """Create the component; ``context`` fills config fields the caller decides (e.g. ``dim``)."""
        from forwardkit.compose import create

        return create(self.kind, self.name, self.config, registry=self.registry, **context)

    def build_for_rank(self, rank: int, **context: Any) -> Any:
        """:meth:`build` for tokens of spatial ``rank``: the component class's ``fields_for_rank(rank)``
        fill the config fields this spec does not set (a mixer's convolution axes, ...)."""
        cls = (self.registry or default_registry()).get(self.kind, self.name).load()
        fill = getattr(cls, "fields_for_rank", None)
        filled = fill(rank) if fill is not None else {}
        unset = {k: v for k, v in filled.items() if k not in self.config.model_fields_set and k not in context}
        return self.build(**unset, **context)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ComponentSpec) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    @classmethod
    def parse(cls, value: Any, *, registry: Registry | None = None) -> Self:
        """Validate ``value`` outside a pydantic model; raises :class:`ConfigError`."""
        try:
            return cls._validate(value, registry=registry)
        except PydanticCustomError as err:
            raise ConfigError(_expand(err.type, err.message(), err.context or {}, ())) from None

    @classmethod
    def _validate(cls, value: Any, *, registry: Registry | None = None, context: Any = None) -> Self:
        if isinstance(value, ComponentSpec):
            if value.kind != cls.kind:
                raise PydanticCustomError("wrong_kind", "expected a {kind} spec", {"kind": cls.kind})
            return value if isinstance(value, cls) else cls(value.name, value.config, registry=value.registry)
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, Mapping):
            raise PydanticCustomError(
                "component_spec",
                "expected a {kind} name or a mapping with 'name', got {got}",
                {"kind": cls.kind, "got": type(value).__name__},
            )
        given = registry
        registry = registry or default_registry()
        data = dict(value)
        name = data.pop("name", None)
        if not isinstance(name, str):
            raise PydanticCustomError(
                "missing_name",
                "a {kind} needs a 'name'",
                {"kind": cls.kind, "allowed": registry.names(cls.kind)},
            )
        try:
            info = registry.get(cls.kind, name)
        except UnknownComponentError as exc:
            raise PydanticCustomError(
                "unknown_component", "{message}", {"message": str(exc), "allowed": exc.close or exc.known}
            ) from None
        try:
            config_cls = info.load_config()
        except ForwardkitError as exc:
            raise PydanticCustomError("plugin_error", "{message}", {"message": str(exc)}) from None
        try:
            if context is None and given is not None:  # nested specs resolve in the same registry
                context = {"registry": given}
            config = config_cls.model_validate(data, context=context)
        except ValidationError as err:
            raise PydanticCustomError(
                "component_config",
                "{count} problem(s) in the config of {kind} {name!r}",
                {"count": err.error_count(), "kind": cls.kind, "name": name, "errors": err.errors()},
            ) from None
        return cls(name, config, registry=given)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> Any:
        def validate(value: Any, info: ValidationInfo) -> ComponentSpec:
            ctx = info.context if isinstance(info.context, dict) else {}
            return cls._validate(value, registry=ctx.get("registry"), context=info.context)

        return core_schema.with_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda v, info: v.to_dict(exclude_unset=info.exclude_unset), info_arg=True
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        registry = default_registry()
        options: list[dict[str, Any]] = []
        for info in registry.components(cls.kind):
            try:
                config_cls = info.load_config()
                sub = handler(config_cls.__pydantic_core_schema__)
                sub = handler.resolve_ref_schema(sub)
            except Exception:
                continue
            props = {"name": {"const": info.name, "description": info.summary}}
            props.update(sub.get("properties", {}))
            option: dict[str, Any] = {"type": "object", "title": f"{cls.kind}/{info.name}", "properties": props}
            option["required"] = ["name", *sub.get("required", [])]
            option["additionalProperties"] = False
            options.append(option)
        names = {"type": "string", "enum": registry.names(cls.kind)}
        return {"title": f"{cls.kind} spec", "anyOf": [names, *options]}


class TokenMixerSpec(ComponentSpec):
    kind = "token_mixer"


class ChannelMixerSpec(ComponentSpec):
    kind = "channel_mixer"


class ModelSpec(ComponentSpec):
    kind = "model"


class LearningRuleSpec(ComponentSpec):
    kind = "learning_rule"


class CallbackSpec(ComponentSpec):
    kind = "callback"


class AdapterSpec(ComponentSpec):
    kind = "adapter"


class CompressorSpec(ComponentSpec):
    kind = "compressor"


class DatasetSpec(ComponentSpec):
    kind = "dataset"


class AnalyzerSpec(ComponentSpec):
    kind = "analyzer"


class TaskSpec(ComponentSpec):
    kind = "task"


SPEC_TYPES: dict[str, type[ComponentSpec]] = {
    cls.kind: cls
    for cls in (
        TokenMixerSpec,
        ChannelMixerSpec,
        ModelSpec,
        LearningRuleSpec,
        CallbackSpec,
        AdapterSpec,
        CompressorSpec,
        DatasetSpec,
        AnalyzerSpec,
        TaskSpec,
    )
}


class TrainerConfig(ComponentConfig):
    """How the trainer runs the loop (the learning rule owns the update)."""

    epochs: int = Field(1, ge=0, description="passes over the training split")
    max_steps: int | None = Field(None, ge=1, description="stop after this many steps (optimizer updates)")
    batch_size: int = Field(64, ge=1, description="global batch size (split across processes)")
    eval_batch_size: int | None = Field(None, ge=1, description="defaults to batch_size")
    eval_every: int = Field(1, ge=0, description="evaluate on 'val' every N epochs (0: only at the end)")
    test_at_end: bool = Field(True, description="evaluate on 'test' when training ends")
    shuffle: bool = True
    drop_last: bool = Field(False, description="drop the last incomplete batch of each epoch")
    device: str = Field("cpu", description="'cpu', 'cuda', 'cuda:1', or 'auto'")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes")
    log_every: int = Field(10, ge=1, description="steps between logged training metrics")
    checkpoint_every: int = Field(1, ge=0, description="checkpoint every N epochs (0: only at the end)")
    checkpoint_every_steps: int = Field(0, ge=0, description="also checkpoint every N steps (0: off)")
    keep_checkpoints: int = Field(2, ge=1, description="how many recent checkpoints to keep")
    out_dir: str = Field("runs", description="parent folder of run directories")
    task: TaskSpec | None = Field(None, description="override the task chosen from the dataset metadata: "
                                  "a task name or {name: ..., **config}")
    progress: Literal["auto", "bar", "log", "none"] = Field("auto", description="auto: a bar on a terminal")
    tensorboard: bool = Field(False, description="also write TensorBoard event files")
    plots: bool = Field(True, description="write curves.png at the end")


class Experiment(ComponentConfig):
    """One experiment: data, model, surgery, learning rule, callbacks, compression, analysis, trainer, seed."""

    name: str = "experiment"
    data: DatasetSpec
    model: ModelSpec
    adapters: list[AdapterSpec] = Field(default_factory=list)
    learning_rule: LearningRuleSpec | None = Field(None, description="None means 'backprop'")
    callbacks: list[CallbackSpec] = Field(default_factory=list)
    compressors: list[CompressorSpec] = Field(default_factory=list)
    analyzers: list[AnalyzerSpec] = Field(
        default_factory=list,
        description="analyzers run on the final model; their numbers join the final metrics as analysis/<name>/<key>")
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    seed: int = Field(0, ge=0)

    def to_dict(self, *, full: bool = False) -> dict[str, Any]:
        """The experiment as plain data: the fields that were given (validating it gives the same
        experiment, with fields that come from the data still free to), or with ``full`` every value."""
        return self.model_dump(mode="json", exclude_unset=not full)


# ---- validation entry points ---------------------------------------------------------------------
def validate_experiment(
    data: Any = None, /, *, source: str | None = None, registry: Registry | None = None, **overrides: Any
) -> Experiment:
    """An :class:`Experiment` from a mapping, an Experiment, or keyword arguments; raises ConfigError."""
    if isinstance(data, Experiment) and not overrides:
        return data
    if isinstance(data, Experiment):
        data = data.to_dict()
    merged = {**(dict(data) if data is not None else {}), **overrides}
    try:
        return Experiment.model_validate(merged, context={"registry": registry} if registry else None)
    except ValidationError as err:
        raise ConfigError(issues_from_validation(err), source=source) from None


def load_experiment(path: str | Path, *, registry: Registry | None = None) -> Experiment:
    """Read and validate an experiment from a ``.yaml``/``.yml`` or ``.json`` file."""
    path = Path(path)
    data = read_mapping(path)
    return validate_experiment(data, source=str(path), registry=registry)


def read_mapping(path: Path) -> dict[str, Any]:
    """Parse a YAML or JSON file into a mapping, with errors that name the file and line."""
    if not path.is_file():
        raise ConfigError([ConfigIssue("", f"file not found: {path}")], source=str(path))
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        issue = ConfigIssue(f"line {exc.lineno}", f"not valid JSON: {exc.msg}")
        raise ConfigError([issue], source=str(path)) from None
    except Exception as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([ConfigIssue(where, f"not valid YAML: {problem}")], source=str(path)) from None
    if not isinstance(data, dict):
        issue = ConfigIssue("", f"expected a mapping at the top, got {type(data).__name__}")
        raise ConfigError([issue], source=str(path))
    return data


def issues_from_validation(err: ValidationError) -> list[ConfigIssue]:
    """Flatten a pydantic error (with nested component errors) into issues with full dotted paths."""
    issues: list[ConfigIssue] = []
    for e in err.errors():
        issues.extend(_expand(e["type"], e["msg"], e.get("ctx") or {}, tuple(e["loc"])))
    return issues


def _expand(kind: str, msg: str, ctx: dict[str, Any], loc: tuple[Any, ...]) -> list[ConfigIssue]:
    if kind == "component_config":
        out: list[ConfigIssue] = []
        for inner in ctx.get("errors", []):
            out.extend(_expand(inner["type"], inner["msg"], inner.get("ctx") or {}, loc + tuple(inner["loc"])))
        return out
    allowed: list[str] = []
    if "allowed" in ctx:
        allowed = [str(a) for a in ctx["allowed"]]
    if kind in ("unknown_component", "plugin_error"):
        msg = str(ctx.get("message", msg))
        allowed = [] if "Did you mean" in msg or "Known" in msg else allowed
    path = ".".join(str(p) for p in loc)
    return [ConfigIssue(path, msg, allowed)]


class TokenMixerConfig(ComponentConfig):
    """Fields every token mixer has; ``dim`` is set by the model that holds the mixer."""

    context_fields: ClassVar[tuple[str, ...]] = ("dim",)

    dim: int = Field(64, ge=1, description="channels C of the (B, *spatial, C) tokens")


class ChannelMixerConfig(ComponentConfig):
    """Fields every channel mixer has; ``dim`` is set by the model that holds the mixer."""

    context_fields: ClassVar[tuple[str, ...]] = ("dim",)

    dim: int = Field(64, ge=1, description="channels C of the (B, *spatial, C) tokens")


def experiment_json_schema() -> dict[str, Any]:
    """JSON Schema of :class:`Experiment`, with the configs of every installed component inline."""
    schema = Experiment.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
