"""Component specs ``{name: ..., **config}``: a registered component's name with its validated Config.

Torch-free. Specs nest (a model config may hold token-mixer specs) and resolve in the registry they
were parsed in. :func:`instantiate` creates the component a spec names (what
:func:`forwardkit.create` does).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any, ClassVar, Self

from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationError, ValidationInfo
from pydantic_core import PydanticCustomError, core_schema

from forwardkit.config.base import resolve_config
from forwardkit.config.issues import _expand
from forwardkit.errors import ConfigError, ForwardkitError, PluginError, UnknownComponentError
from forwardkit.kinds import INTERFACES
from forwardkit.registry import Registry, default_registry, import_path

_WARNED_RANK_ONLY: set[str] = set()


def input_fields(component_cls: Any, spatial: Sequence[int | None]) -> dict[str, Any]:
    """The config fields ``component_cls`` fills for tokens of grid ``spatial`` (``None`` per unknown axis):
    ``component_cls.fields_for_input(tuple(spatial))``, or ``{}`` for a class without it.

    A class that still defines only the older ``fields_for_rank(rank)`` (and no ``fields_for_input`` of
    its own) gets ``fields_for_rank(len(spatial))``, with a ``DeprecationWarning`` once per class; this
    fallback goes away once the plugins have moved to ``fields_for_input``.
    """
    grid = tuple(spatial)
    for klass in getattr(component_cls, "__mro__", (component_cls,)):
        if "fields_for_input" in vars(klass):
            break
        if "fields_for_rank" in vars(klass):
            name = f"{component_cls.__module__}.{component_cls.__qualname__}"
            if name not in _WARNED_RANK_ONLY:
                _WARNED_RANK_ONLY.add(name)
                warnings.warn(f"{name} defines fields_for_rank(rank); define fields_for_input(spatial) instead",
                              DeprecationWarning, stacklevel=3)
            return dict(component_cls.fields_for_rank(len(grid)))
    fill = getattr(component_cls, "fields_for_input", None)
    return dict(fill(grid)) if fill is not None else {}


def instantiate(kind: str, name: str, config: Any = None, *, registry: Registry | None = None,
                **overrides: Any) -> Any:
    """Create component ``name`` of ``kind`` from a Config (instance or mapping) and keyword fields,
    checking that it implements its kind's interface."""
    info = (registry or default_registry()).get(kind, name)
    component_cls = info.load()
    obj = component_cls(resolve_config(info.load_config(), config, overrides))
    interface = import_path(INTERFACES[kind])
    if not isinstance(obj, interface):
        raise PluginError(
            f"{info.qualname} from plugin {info.plugin!r} created a {type(obj).__name__}, "
            f"which is not a {interface.__name__}"
        )
    return obj


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
        return instantiate(self.kind, self.name, self.config, registry=self.registry, **context)

    def component_class(self) -> Any:
        """The registered class this spec names (imports its module)."""
        return (self.registry or default_registry()).get(self.kind, self.name).load()

    def build_for_input(self, spatial: Sequence[int | None], **context: Any) -> Any:
        """:meth:`build` for tokens ``(B, *spatial, C)``: the fields the component class fills for this grid
        (:func:`input_fields`, i.e. its ``fields_for_input(spatial)``) fill the config fields that neither
        this spec nor ``context`` sets. ``spatial`` has ``None`` for every axis whose size is unknown."""
        filled = input_fields(self.component_class(), spatial)
        unset = {k: v for k, v in filled.items() if k not in self.config.model_fields_set and k not in context}
        return self.build(**unset, **context)

    def build_for_rank(self, rank: int, **context: Any) -> Any:
        """Deprecated: ``build_for_input((None,) * rank, **context)`` (tokens of ``rank`` axes, sizes unknown)."""
        warnings.warn("ComponentSpec.build_for_rank(rank) is deprecated; use build_for_input(spatial)",
                      DeprecationWarning, stacklevel=2)
        return self.build_for_input((None,) * rank, **context)

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
        """Inside :func:`spec_schemas_by_reference` (``forwardkit schema``): a ``$ref`` to the one shared
        definition of this kind's specs. Elsewhere (a component's own config schema, ``forwardkit show``): a
        compact schema naming the registered components, since inlining every component's config wherever a
        spec field appears grows multiplicatively with nested specs (a rule wrapping a rule and a model)."""
        wanted = _SPEC_REFS.get()
        if wanted is not None:
            wanted.add(cls.kind)
            return {_SPEC_MARK: cls.kind}  # made a "$ref" afterwards: pydantic checks every "$ref" it emits
        names = {"type": "string", "enum": default_registry().names(cls.kind)}
        mapping = {"type": "object", "required": ["name"], "properties": {"name": names},
                   "additionalProperties": True}
        return {"title": f"{cls.kind} spec", "anyOf": [names, mapping],
                "description": f"a {cls.kind} name, or a mapping {{name: ..., **its config}} "
                               "(`forwardkit show <name>`)"}


#: while set (a set of kinds), spec fields render as ``$ref`` to ``#/$defs/<kind>_spec`` and record their kind
_SPEC_REFS: ContextVar[set[str] | None] = ContextVar("forwardkit_spec_refs", default=None)
_SPEC_MARK = "x-forwardkit-spec"


def _link_specs(node: Any) -> Any:
    """``node`` with every ``{x-forwardkit-spec: kind, ...}`` placeholder turned into a ``$ref`` to that kind's
    definition (its other keys, e.g. a field's description, kept beside it, as JSON Schema 2020-12 allows)."""
    if isinstance(node, dict):
        out = {k: _link_specs(v) for k, v in node.items() if k != _SPEC_MARK}
        if _SPEC_MARK in node:
            out = {"$ref": f"#/$defs/{spec_definition_name(node[_SPEC_MARK])}", **out}
        return out
    if isinstance(node, list):
        return [_link_specs(v) for v in node]
    return node


def spec_definition_name(kind: str) -> str:
    """The ``$defs`` key of the shared schema of ``kind``'s specs (``model`` -> ``model_spec``)."""
    return f"{kind}_spec"


def spec_schemas_by_reference(model: type[BaseModel]) -> dict[str, Any]:
    """JSON Schema of ``model`` in which every component-spec field is a ``$ref`` to one definition per kind,
    and each definition is the union of a registered name and, per registered component, ``{name: ...}``
    with that component's config fields; a component's own nested models live in ``$defs`` under
    ``<kind>.<name>.<Model>``. Each kind is written once however often (and however deeply) spec fields
    nest, so the schema grows linearly with the installed components. A component whose config cannot be
    loaded is left out (``forwardkit doctor`` names it)."""
    wanted: set[str] = set()
    token = _SPEC_REFS.set(wanted)
    try:
        schema = model.model_json_schema()
        defs: dict[str, Any] = schema.setdefault("$defs", {})
        done: set[str] = set()
        while wanted - done:
            kind = min(wanted - done)
            done.add(kind)
            defs[spec_definition_name(kind)] = _kind_schema(kind, defs)
    finally:
        _SPEC_REFS.reset(token)
    linked: dict[str, Any] = _link_specs(schema)
    return linked


def _kind_schema(kind: str, defs: dict[str, Any]) -> dict[str, Any]:
    registry = default_registry()
    options: list[dict[str, Any]] = []
    for info in registry.components(kind):
        prefix = f"{kind}.{info.name}."
        try:
            sub = info.load_config().model_json_schema(ref_template=f"#/$defs/{prefix}{{model}}")
        except Exception:
            continue
        for key, value in sub.pop("$defs", {}).items():
            defs[prefix + key] = value
        props = {"name": {"const": info.name, "description": info.summary}}
        props.update(sub.get("properties", {}))
        options.append({"type": "object", "title": f"{kind}/{info.name}", "properties": props,
                        "required": ["name", *sub.get("required", [])], "additionalProperties": False})
    names = {"type": "string", "enum": registry.names(kind)}
    return {"title": f"{kind} spec", "anyOf": [names, *options]}


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
