"""Composition: create registered components by name, build models from specs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from forwardkit.config.spec import ModelSpec, instantiate
from forwardkit.errors import PluginError
from forwardkit.registry import Registry, default_registry, import_path


def create(
    kind: str, name: str, /, config: Any = None, *, registry: Registry | None = None, **overrides: Any
) -> Any:
    """Create component ``name`` of ``kind`` from a Config (instance or mapping) and/or keyword fields.

    >>> mixer = create("token_mixer", "attention", dim=64)        # doctest: +SKIP

    Unknown names raise :class:`~forwardkit.errors.UnknownComponentError` (with close matches and the
    ``pip install`` hint); bad values raise :class:`~forwardkit.errors.ConfigError` with field paths.
    """
    return instantiate(kind, name, config, registry=registry, **overrides)


def build_model(
    spec: ModelSpec | Mapping[str, Any] | str, *, registry: Registry | None = None, **overrides: Any
) -> Any:
    """Build a model from a spec: a name, ``{"name": ..., **config}``, or a :class:`ModelSpec`.

    ``overrides`` replace config fields, e.g. ``build_model("metaformer", num_classes=100)``.
    """
    parsed = ModelSpec.parse(spec, registry=registry)
    return create("model", parsed.name, parsed.config, registry=registry, **overrides)


def functional(kind: str, name: str, *, registry: Registry | None = None) -> Any:
    """The plain functional form a component registered (e.g. ``apply_ibn``), if it has one."""
    info = (registry or default_registry()).get(kind, name)
    if info.functional is None:
        raise PluginError(f"{info.qualname} has no functional form")
    return import_path(info.functional)
