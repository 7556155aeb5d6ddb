"""Component configs: the pydantic base every component's Config derives from (torch-free)."""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ModelWrapValidatorHandler, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from forwardkit.config.issues import issues_from_validation, reraisable
from forwardkit.errors import ConfigError, close_matches


class ComponentConfig(BaseModel):
    """Base of every component's Config: typed fields with defaults; unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=(),
                              allow_inf_nan=False)

    #: fields the component's holder sets (e.g. a mixer's ``dim``, given by the model's stage width);
    #: left out when a spec is written out unless they were set explicitly
    context_fields: ClassVar[tuple[str, ...]] = ()
    #: fields that existed once: ``{old name: where it went}``, said when an old config still uses one
    moved_fields: ClassVar[dict[str, str]] = {}

    @model_validator(mode="wrap")
    @classmethod
    def _check_input(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        """Unknown fields and loose scalar types are errors, reported with every other problem of the config."""
        if not isinstance(data, Mapping):
            return handler(data)
        known: set[str] = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
        errors = _unknown_field_errors(cls, data, known) + _loose_scalar_errors(cls, data)
        if not errors:
            return handler(data)
        bad = {next(iter(e["loc"])) for e in errors if e["loc"]}
        try:
            handler({k: v for k, v in data.items() if k in known and k not in bad})
        except ValidationError as err:
            errors += [reraisable(e) for e in err.errors() if not (e["type"] == "missing" and e["loc"][:1] in
                                                                   {(b,) for b in bad})]
        raise ValidationError.from_exception_data(cls.__name__, errors)


def _unknown_field_errors(cls: type[BaseModel], data: Mapping[str, Any], known: set[str]) -> list[InitErrorDetails]:
    unknown = [k for k in data if k not in known]
    if not unknown:
        return []
    hints = []
    moved: dict[str, str] = getattr(cls, "moved_fields", {})
    for key in unknown:
        close = close_matches(str(key), sorted(known), n=1)
        if key in moved:
            hints.append(f"{key!r} ({moved[key]})")
        else:
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return [InitErrorDetails(
        type=PydanticCustomError("unknown_field", "unknown field {fields} for {model}",
                                 {"fields": ", ".join(hints), "model": cls.__name__, "allowed": sorted(known)}),
        loc=(), input=data)]


_SCALARS = (bool, int, float, str)


def scalar_kinds(annotation: Any) -> set[type] | None:
    """The scalar types a field accepts (bool, int, float, str), or None when it accepts anything else too
    (lists, mappings, specs, paths...), in which case the loose-type check leaves it alone."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return scalar_kinds(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        kinds: set[type] = set()
        for arg in typing.get_args(annotation):
            if arg is type(None):
                continue
            sub = scalar_kinds(arg)
            if sub is None:
                return None
            kinds |= sub
        return kinds
    if origin is typing.Literal:
        return {type(v) for v in typing.get_args(annotation) if v is not None}
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return {type(m.value) for m in annotation}
    if annotation in _SCALARS:
        return {annotation}
    return None


def item_kinds(annotation: Any) -> list[set[type]] | set[type] | None:
    """For a list or tuple field of scalars, the scalar types of its items: one set for every item
    (``list[int]``, ``tuple[float, ...]``) or one per position (``tuple[float, float]``); else None."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return item_kinds(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        arms = [item_kinds(arg) for arg in typing.get_args(annotation) if typing.get_origin(arg) in (list, tuple)
                or typing.get_origin(arg) is typing.Annotated]
        return arms[0] if len(arms) == 1 else None
    args = typing.get_args(annotation)
    if origin is list and len(args) == 1:
        return scalar_kinds(args[0])
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return scalar_kinds(args[0])
    if origin is tuple and args:
        kinds = [scalar_kinds(a) for a in args]
        return None if any(k is None for k in kinds) else kinds  # type: ignore[return-value]
    return None


def loose_reason(value: Any, kinds: set[type]) -> str | None:
    """What is wrong with ``value`` for a field of scalar ``kinds`` that pydantic would coerce silently
    (``"a boolean"``, ``"a number"``, ``"a float"``, ``"a string"``), or None when it is fine."""
    if isinstance(value, bool):
        return None if bool in kinds else "a boolean"
    if isinstance(value, int):
        return None if kinds & {int, float} or (bool not in kinds) else "a number"
    if isinstance(value, float):
        return None if float in kinds or not kinds & {int, bool} else "a float"
    if isinstance(value, str):
        return None if str in kinds else "a string"
    return None


def _strict_error(kinds: set[type], why: str, value: Any, loc: tuple[str | int, ...]) -> InitErrorDetails:
    want = " or ".join(sorted({"boolean" if k is bool else "integer" if k is int else "number" if k is float
                               else "string" for k in kinds}))
    return InitErrorDetails(type=PydanticCustomError("strict_type", "expected {want}, got {got} ({value})",
                                                     {"want": want, "got": why, "value": repr(value)[:40]}),
                            loc=loc, input=value)


def _loose_scalar_errors(cls: type[BaseModel], data: Mapping[str, Any]) -> list[InitErrorDetails]:
    """Values pydantic would coerce but a config should not accept: ``"2"`` or ``true`` for a number,
    ``"yes"`` or ``1`` for a boolean, ``2.5`` or ``1e30`` for an integer; in scalar fields and in the items
    of list and tuple fields of scalars (``depths: ["1", true]``)."""
    errors = []
    for name, field in cls.model_fields.items():
        key = field.alias or name
        if key not in data or data[key] is None:
            continue
        value = data[key]
        if isinstance(value, (list, tuple)):
            per_item = item_kinds(field.annotation)
            if per_item is None:
                continue
            for i, item in enumerate(value):
                item_set = per_item[i] if isinstance(per_item, list) and i < len(per_item) else per_item
                if isinstance(item_set, set) and item is not None and (why := loose_reason(item, item_set)):
                    errors.append(_strict_error(item_set, why, item, (key, i)))
            continue
        kinds = scalar_kinds(field.annotation)
        if kinds is not None and (why := loose_reason(value, kinds)):
            errors.append(_strict_error(kinds, why, value, (key,)))
    return errors


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


class TokenMixerConfig(ComponentConfig):
    """Fields every token mixer has; ``dim`` is set by the model that holds the mixer."""

    context_fields: ClassVar[tuple[str, ...]] = ("dim",)

    dim: int = Field(64, ge=1, description="channels C of the (B, *spatial, C) tokens")


class ChannelMixerConfig(ComponentConfig):
    """Fields every channel mixer has; ``dim`` is set by the model that holds the mixer."""

    context_fields: ClassVar[tuple[str, ...]] = ("dim",)

    dim: int = Field(64, ge=1, description="channels C of the (B, *spatial, C) tokens")
