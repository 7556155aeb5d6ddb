"""Component configs: the pydantic base every component's Config derives from (torch-free)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ModelWrapValidatorHandler, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from forwardkit.config.issues import issues_from_validation, reraisable
from forwardkit.errors import ConfigError, close_matches


class ComponentConfig(BaseModel):
    """Base of every component's Config: typed fields with defaults; unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    #: fields the component's holder sets (e.g. a mixer's ``dim``, given by the model's stage width);
    #: left out when a spec is written out unless they were set explicitly
    context_fields: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="wrap")
    @classmethod
    def _reject_unknown_fields(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        """Unknown fields are errors, reported together with every other problem of the same config."""
        if not isinstance(data, Mapping):
            return handler(data)
        known: set[str] = set(cls.model_fields) | {f.alias for f in cls.model_fields.values() if f.alias}
        unknown = [k for k in data if k not in known]
        if not unknown:
            return handler(data)
        hints = []
        for key in unknown:
            close = close_matches(str(key), sorted(known), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        errors: list[InitErrorDetails] = [InitErrorDetails(
            type=PydanticCustomError("unknown_field", "unknown field {fields} for {model}",
                                     {"fields": ", ".join(hints), "model": cls.__name__, "allowed": sorted(known)}),
            loc=(), input=data)]
        try:
            handler({k: v for k, v in data.items() if k in known})
        except ValidationError as err:
            errors += [reraisable(e) for e in err.errors()]
        raise ValidationError.from_exception_data(cls.__name__, errors)


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
