"""Hypothesis strategies for conformance checks: configs drawn from a pydantic schema, token inputs.

Configs
    :func:`configs` draws a config *dict* for a component from its pydantic ``Config``: booleans,
    ``Literal`` values and enums, ints and floats near their defaults (within the field's bounds),
    optional fields (``None`` or a small value). Fields the kit cannot draw (lists, strings, nested
    specs, ...) keep their defaults. A drawn dict that does not validate is rejected, so a Config that
    validates its combinations gets only valid draws. Draws stay small so checks run fast.

    A component pins its configs instead with ``conformance_configs`` (a ClassVar list of dicts, or a
    classmethod returning one); then only those are used (see :func:`pinned_configs`).

Inputs
    :func:`token_shapes` / :func:`token_inputs` draw ``(B, *spatial, C)`` over batch sizes, the spatial
    ranks a mixer supports and small spatial sizes; :func:`mixer_cases` draws a whole
    :class:`MixerCase` (config, batch size, spatial shape, seed) and :func:`explicit_mixer_cases` lists
    the cases always tried first (each pinned or default config at every supported rank).

Every strategy is usable in a plugin's own hypothesis tests::

    from hypothesis import given
    from forwardkit.testing import strategies as fks

    @fks.conformance_settings()
    @given(fks.mixer_cases(MyMixer))
    def test_my_property(case):
        mixer = MyMixer(case.config)
        x = case.tokens(mixer.dim)
        ...

``settings``: :func:`conformance_settings` follows the active profile of :mod:`forwardkit.testing.profiles`
(``default``: :data:`~forwardkit.testing.profiles.DEFAULT_EXAMPLES` examples under a fixed seed, so CI
draws the same examples every run; ``deep``: many examples under a random seed). Health checks are on,
except those named in :data:`SUPPRESSED_HEALTH_CHECKS` with the reason; there is no deadline, no
example database (unless one is asked for) and failures are shrunk.
"""

from __future__ import annotations

import contextlib
import enum
import math
import os
import tempfile
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.strategies import SearchStrategy
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from forwardkit.testing.profiles import DEFAULT_EXAMPLES, KitProfile, active_profile

__all__ = [
    "CANONICAL_SPATIAL",
    "DIMS",
    "KIT_PHASES",
    "KIT_STORAGE",
    "MAX_EXAMPLES",
    "SPATIAL_SIZES",
    "SUPPRESSED_HEALTH_CHECKS",
    "MixerCase",
    "config_class",
    "configs",
    "conformance_settings",
    "explicit_mixer_cases",
    "field_strategy",
    "kit_storage",
    "mixer_cases",
    "pinned_configs",
    "spatial_shapes",
    "token_inputs",
    "token_shapes",
    "undrawable_required_fields",
]

#: examples drawn per property (after the explicit cases) in the default profile
MAX_EXAMPLES = DEFAULT_EXAMPLES
#: channel counts drawn for a mixer's ``dim`` (the explicit cases use the Config default)
DIMS: tuple[int, ...] = (16, 8, 32)
#: the spatial shape tried first at each rank (not square, so that H/W mix-ups show)
CANONICAL_SPATIAL: dict[int, tuple[int, ...]] = {1: (8,), 2: (4, 6), 3: (2, 4, 6)}
#: (smallest, largest) size of each spatial axis drawn at each rank
SPATIAL_SIZES: dict[int, tuple[int, int]] = {1: (2, 12), 2: (2, 6), 3: (2, 4)}
#: the hypothesis phases the kit runs: explicit cases, the example database (when one is asked
#: for), drawn cases, and shrinking of a failure (``explain`` is left out: it reruns the test a lot)
KIT_PHASES: tuple[Phase, ...] = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)
#: health checks the kit turns off, each with the reason; every other health check is on
SUPPRESSED_HEALTH_CHECKS: dict[HealthCheck, str] = {}


#: where hypothesis keeps its own files (its cache of the constants of local modules) while the kit
#: runs, instead of ``.hypothesis/`` in the working directory
KIT_STORAGE = Path(tempfile.gettempdir()) / "forwardkit-hypothesis"


@contextlib.contextmanager
def kit_storage(directory: Path = KIT_STORAGE) -> Iterator[None]:
    """Point hypothesis' storage at ``directory`` for the duration (unless ``HYPOTHESIS_STORAGE_DIRECTORY``
    names one): hypothesis caches constants of local modules under its home directory, which defaults
    to ``.hypothesis/`` in the working directory, and the kit writes nothing there unless asked."""
    from hypothesis import configuration

    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        yield
        return
    previous = getattr(configuration, "__hypothesis_home_directory", None)
    configuration.set_hypothesis_home_dir(directory)
    try:
        yield
    finally:
        configuration.set_hypothesis_home_dir(previous)


def _database(profile: KitProfile) -> DirectoryBasedExampleDatabase | None:
    return DirectoryBasedExampleDatabase(profile.database) if profile.database else None


def conformance_settings(
    max_examples: int | None = None, *, profile: KitProfile | None = None, **changes: Any
) -> settings:
    """The hypothesis settings of the kit under ``profile`` (default: the active profile).

    ``max_examples`` drawn examples (the profile's by default; 0 runs only the explicit cases), no
    deadline (components are built inside the test, and a shared CI machine's timings vary), health
    checks on except :data:`SUPPRESSED_HEALTH_CHECKS`, shrinking on, no example database unless the
    profile names one. Under a fixed-seed profile a test without its own ``@seed`` is derandomized
    (the same examples in every run); the kit's own checks always run under an explicit ``@seed``.
    """
    profile = profile or active_profile()
    count = profile.max_examples if max_examples is None else max_examples
    database = _database(profile)
    base: dict[str, Any] = {
        "max_examples": max(1, count),
        "deadline": None,
        "derandomize": profile.derandomized and database is None,
        "database": database,
        "phases": KIT_PHASES if count > 0 else (Phase.explicit,),
        "suppress_health_check": list(SUPPRESSED_HEALTH_CHECKS),
        "report_multiple_bugs": False,
        "print_blob": False,
    }
    base.update(changes)
    return settings(**base)


# ---- configs ---------------------------------------------------------------------------------------
def config_class(component: Any) -> type[BaseModel]:
    """The pydantic Config of a component class, a registry ComponentInfo or a kit Subject."""
    if isinstance(component, type) and issubclass(component, BaseModel):
        return component
    if hasattr(component, "config_cls"):
        return component.config_cls
    if hasattr(component, "load_config"):
        return component.load_config()
    cfg = getattr(component, "Config", None)
    if isinstance(cfg, type) and issubclass(cfg, BaseModel):
        return cfg
    raise TypeError(f"{component!r} has no pydantic Config")


def _component_class(component: Any) -> Any:
    if isinstance(component, type) and issubclass(component, BaseModel):
        return None
    if hasattr(component, "config_cls") and hasattr(component, "cls"):
        return component.cls
    if hasattr(component, "load_config"):
        return component.load()
    return component


def pinned_configs(component: Any) -> list[dict[str, Any]] | None:
    """The configs a component pins with ``conformance_configs`` (None when it pins none).

    ``conformance_configs`` is a ClassVar sequence of dicts, or a classmethod/staticmethod returning
    one. Each dict holds Config fields; missing fields keep their defaults.
    """
    cls = _component_class(component)
    value = getattr(cls, "conformance_configs", None) if cls is not None else None
    if callable(value):
        value = value()
    if not value:
        return None
    out = []
    for item in value:
        if isinstance(item, BaseModel):
            item = item.model_dump()
        if not isinstance(item, Mapping):
            raise TypeError(f"conformance_configs entries must be dicts of Config fields, got {item!r}")
        out.append(dict(item))
    return out


def _bounds(info: FieldInfo) -> dict[str, Any]:
    """The numeric bounds of a field (``gt``, ``ge``, ``lt``, ``le``, ``multiple_of``)."""
    out: dict[str, Any] = {}
    for meta in info.metadata:
        for attr in ("gt", "ge", "lt", "le", "multiple_of"):
            value = getattr(meta, attr, None)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[attr] = value
    return out


def _within(value: Any, bounds: Mapping[str, Any]) -> bool:
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if "gt" in bounds and not value > bounds["gt"]:
        return False
    if "ge" in bounds and not value >= bounds["ge"]:
        return False
    if "lt" in bounds and not value < bounds["lt"]:
        return False
    if "le" in bounds and not value <= bounds["le"]:
        return False
    multiple = bounds.get("multiple_of")
    if multiple and isinstance(value, int) and value % multiple:
        return False
    return True


def _unique(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if not any(v == o and type(v) is type(o) for o in out):
            out.append(v)
    return out


def _int_candidates(default: int | None, bounds: Mapping[str, Any]) -> list[int]:
    if default is None:
        raw = [1, 2, 4]
        low = bounds.get("ge", bounds["gt"] + 1 if "gt" in bounds else None)
        if low is not None and low > 4:
            raw = [int(low), int(low) + 1]
    elif default > 0:
        raw = [default, default // 2, default - 1]
        low = bounds.get("ge", bounds["gt"] + 1 if "gt" in bounds else None)
        if low is not None:
            raw.append(int(low))  # the smallest allowed value: cheap, and an edge case
        if "ge" not in bounds and "gt" not in bounds:
            raw = [v for v in raw if v >= 1]  # sizes are positive unless the schema says otherwise
    else:
        raw = [default, default + 1, default + 2]
    return [v for v in _unique(raw) if _within(v, bounds)]


def _float_candidates(default: float | None, bounds: Mapping[str, Any]) -> list[float]:
    if default is None:
        raw = [0.5, 0.1, 1.0]
    elif default == 0.0:
        raw = [0.0, 0.1]
    else:
        raw = [float(default), float(default) / 2]
    return [v for v in _unique(raw) if _within(v, bounds)]


def _values_for(annotation: Any, default: Any, bounds: Mapping[str, Any]) -> list[Any] | None:
    """Candidate values for one annotation (default first), or None when it cannot be drawn."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _values_for(typing.get_args(annotation)[0], default, bounds)
    if origin is Literal:
        args = list(typing.get_args(annotation))
        return _unique(([default] if default in args else []) + args)
    if origin in (Union, types.UnionType):
        members = typing.get_args(annotation)
        non_none = [a for a in members if a is not type(None)]
        if len(non_none) != 1:
            return None
        inner = _values_for(non_none[0], default if default is not None else None, bounds)
        if inner is None:
            return None
        if type(None) not in members:
            return inner
        values = [None, *inner] if default is None else [*inner[:1], None, *inner[1:]]
        return _unique(values)
    if annotation is bool:
        return [default, not default] if isinstance(default, bool) else [False, True]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        choices: list[Any] = list(annotation)
        return _unique(([default] if isinstance(default, annotation) else []) + choices)
    if annotation is int:
        return _int_candidates(default if isinstance(default, int) and not isinstance(default, bool) else None, bounds)
    if annotation is float:
        return _float_candidates(float(default) if isinstance(default, int | float) else None, bounds)
    return None


def field_strategy(info: FieldInfo) -> SearchStrategy[Any] | None:
    """A strategy for one Config field (its default half of the time), or None if it cannot be drawn."""
    default = info.get_default(call_default_factory=True)
    required = default is PydanticUndefined
    values = _values_for(info.annotation, None if required else default, _bounds(info))
    if not values:
        return None
    if required or len(values) == 1:
        return st.sampled_from(values)
    return st.one_of(st.just(values[0]), st.sampled_from(values[1:]))


def undrawable_required_fields(config_cls: type[BaseModel]) -> list[str]:
    """Required fields (no default) the kit cannot draw: the component must pin its configs."""
    return [
        name for name, info in config_cls.model_fields.items() if info.is_required() and field_strategy(info) is None
    ]


def configs(
    component: Any,
    *,
    fixed: Mapping[str, Any] | None = None,
    fields: Mapping[str, SearchStrategy[Any]] | None = None,
    exclude: Sequence[str] = (),
    pinned: Sequence[Mapping[str, Any]] | None = None,
) -> SearchStrategy[dict[str, Any]]:
    """Config dicts for ``component`` (a component class, Config class, ComponentInfo or Subject).

    ``pinned`` (or the component's ``conformance_configs``) restricts draws to those dicts. Otherwise
    every drawable field is drawn near its default, ``fields`` overrides the strategy of named fields,
    ``exclude`` keeps fields at their defaults and ``fixed`` sets values outright. Draws that do not
    validate against the Config are rejected.
    """
    config_cls = config_class(component)
    fixed = dict(fixed or {})
    if pinned is None and not (isinstance(component, type) and issubclass(component, BaseModel)):
        pinned = pinned_configs(component)
    if pinned:
        choices = [{**dict(p), **fixed} for p in pinned]
        return st.sampled_from(choices).filter(lambda d: _validates(config_cls, d))
    plan: dict[str, SearchStrategy[Any]] = {}
    for name, info in config_cls.model_fields.items():
        if name in fixed or name in exclude:
            continue
        strategy = (fields or {}).get(name)
        if strategy is None:
            strategy = field_strategy(info)
        if strategy is not None:
            plan[name] = strategy
    return st.fixed_dictionaries(plan).map(lambda d: {**d, **fixed}).filter(lambda d: _validates(config_cls, d))


def _validates(config_cls: type[BaseModel], data: Mapping[str, Any]) -> bool:
    try:
        config_cls.model_validate(dict(data))
    except (ValidationError, ValueError, TypeError):
        return False
    return True


# ---- token inputs --------------------------------------------------------------------------------
def spatial_shapes(
    rank: int, *, min_size: int | None = None, max_size: int | None = None
) -> SearchStrategy[tuple[int, ...]]:
    """Small spatial shapes of ``rank`` axes (sizes from :data:`SPATIAL_SIZES`)."""
    low, high = SPATIAL_SIZES.get(rank, (2, 3))
    low = low if min_size is None else min_size
    high = high if max_size is None else max_size
    return st.tuples(*[st.integers(low, high) for _ in range(rank)])


def _ranks_of(component: Any, ranks: Sequence[int] | None) -> list[int]:
    if ranks is None:
        cls = _component_class(component)
        ranks = getattr(cls, "ranks", (1, 2, 3))
    chosen = sorted(r for r in ranks if r in (1, 2, 3))
    if not chosen:
        raise ValueError(f"no spatial rank among 1, 2, 3 declared (ranks={sorted(ranks)})")
    return chosen


def token_shapes(
    ranks: Sequence[int], dim: int | SearchStrategy[int], *, min_batch: int = 1, max_batch: int = 3
) -> SearchStrategy[tuple[int, ...]]:
    """Shapes ``(B, *spatial, C)`` over batch sizes, the given ranks and small spatial sizes."""
    dims = dim if isinstance(dim, SearchStrategy) else st.just(dim)
    rank_list = sorted(ranks)

    @st.composite
    def draw_shape(draw: Callable[[SearchStrategy[Any]], Any]) -> tuple[int, ...]:
        rank = draw(st.sampled_from(rank_list))
        return (draw(st.integers(min_batch, max_batch)), *draw(spatial_shapes(rank)), draw(dims))

    return draw_shape()


def token_inputs(
    ranks: Sequence[int], dim: int | SearchStrategy[int], *, min_batch: int = 1, max_batch: int = 3
) -> SearchStrategy[Any]:
    """Standard-normal float32 token tensors over :func:`token_shapes` (values from a drawn seed)."""
    import torch

    def make(shape_seed: tuple[tuple[int, ...], int]) -> Any:
        shape, seed = shape_seed
        return torch.randn(shape, generator=torch.Generator().manual_seed(seed))

    shapes = token_shapes(ranks, dim, min_batch=min_batch, max_batch=max_batch)
    return st.tuples(shapes, st.integers(0, 2**16)).map(make)


@dataclass(frozen=True)
class MixerCase:
    """One case for a mixer property: a config dict, a batch size, a spatial shape and a seed.

    ``explicit`` marks the cases tried first (pinned or default config at the canonical shape): when
    those fail to build the check fails, while a drawn config that fails to build is only rejected.
    """

    config: dict[str, Any]
    batch: int
    spatial: tuple[int, ...]
    seed: int = 0
    explicit: bool = field(default=False, compare=False)

    @property
    def rank(self) -> int:
        return len(self.spatial)

    @property
    def tokens_count(self) -> int:
        return math.prod(self.spatial)

    def shape(self, dim: int) -> tuple[int, ...]:
        return (self.batch, *self.spatial, dim)

    def tokens(self, dim: int, *, offset: int = 0) -> Any:
        """Standard-normal tokens ``(B, *spatial, dim)`` from this case's seed (plus ``offset``)."""
        import torch

        generator = torch.Generator().manual_seed(self.seed + offset)
        return torch.randn(self.shape(dim), generator=generator)

    def __repr__(self) -> str:
        tag = ", default" if self.explicit else ""
        shape = ", ".join(map(str, (self.batch, *self.spatial, "C")))
        return f"MixerCase(config={self.config!r}, shape=({shape}), seed={self.seed}{tag})"


def _dim_field(component: Any, dims: Sequence[int]) -> dict[str, SearchStrategy[int]]:
    config_cls = config_class(component)
    info = config_cls.model_fields.get("dim")
    if info is None:
        return {}
    bounds = _bounds(info)
    allowed = [d for d in dims if _within(d, bounds)]
    return {"dim": st.sampled_from(allowed)} if allowed else {}


def mixer_cases(
    component: Any,
    *,
    configs_: Sequence[Mapping[str, Any]] | None = None,
    fixed: Mapping[str, Any] | None = None,
    ranks: Sequence[int] | None = None,
    min_batch: int = 1,
    max_batch: int = 3,
    dims: Sequence[int] = DIMS,
) -> SearchStrategy[MixerCase]:
    """Cases for a token or channel mixer: a drawn config (``dim`` from ``dims``), rank, shape, seed."""
    rank_list = _ranks_of(component, ranks)
    pinned = list(configs_) if configs_ else None
    config_strategy = configs(component, fixed=fixed, fields=_dim_field(component, dims), pinned=pinned)

    @st.composite
    def draw_case(draw: Callable[[SearchStrategy[Any]], Any]) -> MixerCase:
        config = draw(config_strategy)
        rank = draw(st.sampled_from(rank_list))
        spatial = draw(spatial_shapes(rank))
        batch = draw(st.integers(min_batch, max_batch))
        seed = draw(st.integers(0, 2**16))
        return MixerCase(config=config, batch=batch, spatial=spatial, seed=seed)

    return draw_case()


def explicit_mixer_cases(
    component: Any,
    *,
    configs_: Sequence[Mapping[str, Any]] | None = None,
    fixed: Mapping[str, Any] | None = None,
    ranks: Sequence[int] | None = None,
    batch: int = 2,
) -> list[MixerCase]:
    """The cases tried first: every pinned config (or the defaults) at each rank's canonical shape."""
    pinned = list(configs_) if configs_ else pinned_configs(component)
    base: list[dict[str, Any]] = [dict(c) for c in pinned] if pinned else [{}]
    out = []
    for config in base:
        for rank in _ranks_of(component, ranks):
            data = {**dict(config), **dict(fixed or {})}
            out.append(MixerCase(config=data, batch=batch, spatial=CANONICAL_SPATIAL[rank], seed=rank, explicit=True))
    return out
