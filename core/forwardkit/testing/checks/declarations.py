"""Checks of every kind: what the class declares (``check_declarations``) and its config's JSON round trip.

``check_config_round_trip`` is registered here for the kinds that are not modules; mixers and models
register their own (which also rebuild the module and compare state and output) in
:mod:`.mixers` and :mod:`.models`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from forwardkit.kinds import INTERFACES, KINDS
from forwardkit.registry import import_path
from forwardkit.testing import strategies as fks
from forwardkit.testing.checks.common import Subject, checks_for, conformance_check, fail
from forwardkit.testing.checks.helpers import describe_config, seeded

__all__ = [
    "EXPORT_FORMATS",
    "GRADIENT_KINDS",
    "MIXERS",
    "assert_config_round_trips",
    "check_declarations",
    "json_round_trip",
]

#: the two mixer kinds
MIXERS = ("token_mixer", "channel_mixer")
#: the kinds ``check_gradients`` and ``check_export`` apply to (and so may declare ``gradient_exempt`` and
#: ``export_formats``)
GRADIENT_KINDS = (*MIXERS, "model")
#: the export formats a mixer or model may declare in ``export_formats`` (``torch`` is always checked)
EXPORT_FORMATS: tuple[str, ...] = ("torch", "onnx")


def _check_interface(subject: Subject, interface: type) -> None:
    cls, kind = subject.cls, subject.kind
    if isinstance(cls, type) and not issubclass(cls, interface):
        fail(f"{cls.__qualname__} is not a subclass of {interface.__name__} (registered as a {kind})")
    own_config = getattr(cls, "Config", None)
    if subject.info is not None and subject.info.config and own_config is not None:
        base_config = getattr(interface, "Config", None)
        if own_config is not base_config and own_config is not subject.config_cls:
            fail(
                f"the registry names config {subject.info.config!r} ({subject.config_cls.__qualname__}) but "
                f"{getattr(cls, '__qualname__', cls)}.Config is {own_config.__qualname__}"
            )


def _check_reasons(
    attribute: str, declared: Any, noun: str, known: Sequence[str] | None = None, kind: str = ""
) -> None:
    """``declared`` maps ``noun`` strings (each in ``known``, when given) to non-empty reasons."""
    if not isinstance(declared, Mapping):
        fail(f"{attribute} must be a mapping of {noun} -> reason, got {type(declared).__name__}")
    for key, reason in declared.items():
        if not isinstance(key, str) or not key.strip():
            fail(f"{attribute} keys must be non-empty strings ({noun}s), got {key!r}")
        if known is not None and key not in known:
            fail(f"{attribute} names {key!r}, which is not a check of a {kind} (checks: {', '.join(known)})")
        if not isinstance(reason, str) or not reason.strip():
            fail(f"{attribute}[{key!r}] needs a reason (a non-empty string)")


def _check_declared_failures(subject: Subject) -> None:
    cls, kind = subject.cls, subject.kind
    declared = getattr(cls, "expected_failures", None) or {}
    _check_reasons("expected_failures", declared, "check name", checks_for(kind), kind)
    exempt = getattr(cls, "gradient_exempt", None) or {}
    if exempt and kind not in GRADIENT_KINDS:
        fail(f"gradient_exempt applies to {', '.join(GRADIENT_KINDS)} (check_gradients), not to a {kind}")
    _check_reasons("gradient_exempt", exempt, "parameter-name pattern")


def _check_export_formats(subject: Subject) -> None:
    declared = getattr(subject.cls, "export_formats", None)
    if declared is None:
        return
    if subject.kind not in GRADIENT_KINDS:
        fail(f"export_formats applies to {', '.join(GRADIENT_KINDS)} (check_export), not to a {subject.kind}")
    formats = list(declared) if isinstance(declared, tuple | list | frozenset | set) else None
    if not formats or "torch" not in formats or any(f not in EXPORT_FORMATS for f in formats):
        fail(f"export_formats must be a tuple naming 'torch' (ONNX is made from torch.export's program) and only "
             f"formats of {list(EXPORT_FORMATS)}, got {declared!r}")


def _check_rule_declarations(subject: Subject) -> None:
    cls = subject.cls
    flags = {name: getattr(cls, name, default) for name, default in (("trains", True), ("adapts_at_test_time", False))}
    wrong = {name: value for name, value in flags.items() if not isinstance(value, bool)}
    if wrong:
        fail(f"learning-rule flags must be bools: {wrong!r}")
    if not flags["trains"] and not flags["adapts_at_test_time"]:
        fail("declares trains = False but not adapts_at_test_time = True: a rule that neither trains nor adapts "
             "at test time cannot be used anywhere")


def _check_mixer_declarations(subject: Subject) -> None:
    if "dim" not in subject.config_cls.model_fields:
        fail(
            f"{subject.config_cls.__qualname__} has no 'dim' field "
            f"(subclass {subject.kind.title().replace('_', '')}Config)"
        )
    ranks = set(getattr(subject.cls, "ranks", ()))
    if not ranks or not ranks <= {1, 2, 3}:
        fail(f"ranks must be a non-empty subset of {{1, 2, 3}}, got {sorted(ranks)}")


def _declared_configs(subject: Subject, configs: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """The pinned configs, each validated; without them, every Config field must have a default."""
    pinned = [dict(c) for c in configs] if configs else fks.pinned_configs(subject.cls)
    if pinned:
        for i, data in enumerate(pinned):
            try:
                subject.validate(data)
            except Exception as exc:
                fail(f"conformance_configs[{i}] = {data!r} does not validate: {exc}")
        return pinned
    required = [n for n, f in subject.config_cls.model_fields.items() if f.is_required()]
    if required:
        fail(
            f"{subject.config_cls.__qualname__} fields {required} have no default; give them defaults "
            "(design: every Config has defaults) or declare conformance_configs"
        )
    return []


@conformance_check(*KINDS)
def check_declarations(subject: Subject, *, configs: Sequence[Mapping[str, Any]] | None = None) -> int:
    """The class declares what the kit relies on: the kind's interface, a pydantic Config (the one the
    registry names), defaults for every field (or ``conformance_configs``), ``expected_failures`` naming
    real checks with reasons, ``gradient_exempt`` patterns with reasons and ``export_formats`` within
    ``("torch", "onnx")``, naming ``torch`` (mixers and models only), a learning rule that does not
    train (``trains = False``) adapting at test time,
    ``ranks`` within {1, 2, 3} for mixers, and the default config builds."""
    interface = import_path(INTERFACES[subject.kind])
    _check_interface(subject, interface)
    _check_declared_failures(subject)
    _check_export_formats(subject)
    if subject.kind == "learning_rule":
        _check_rule_declarations(subject)
    if subject.kind in MIXERS:
        _check_mixer_declarations(subject)
    config = (_declared_configs(subject, configs) or [{}])[0]
    try:
        obj = seeded(0, lambda: subject.build(config))
    except Exception as exc:
        fail(f"cannot build from {describe_config(config)}: {type(exc).__name__}: {exc}")
    if not isinstance(obj, interface):
        fail(f"building {subject.label} gave a {type(obj).__name__}, which is not a {interface.__name__}")
    return 1


# ---- config round trip ---------------------------------------------------------------------------------
def assert_config_round_trips(config: BaseModel, again: BaseModel, data: Mapping[str, Any]) -> None:
    """``again`` (validated from ``data``, the JSON dump of ``config``) equals ``config``."""
    if again == config and again.model_dump(mode="json") == data:
        return
    diffs = [
        f"{name}: {getattr(config, name, None)!r} -> {getattr(again, name, None)!r}"
        for name in type(config).model_fields
        if getattr(config, name, None) != getattr(again, name, None)
    ]
    detail = "; ".join(diffs) if diffs else f"{data!r} -> {again.model_dump(mode='json')!r}"
    fail(
        f"the config does not round-trip through JSON (Config.model_validate(config.model_dump(mode='json'))): {detail}"
    )


def json_round_trip(subject: Subject, obj: Any) -> BaseModel:
    """``obj.config`` through JSON and back: checks it serialises, validates and equals; returns the copy."""
    config = getattr(obj, "config", None)
    if not isinstance(config, BaseModel):
        fail(f"the instance has no pydantic .config (got {type(config).__name__})")
    data = config.model_dump(mode="json")
    try:
        json.dumps(data)
    except (TypeError, ValueError) as exc:
        fail(f"config.model_dump(mode='json') is not JSON-serialisable: {exc}")
    try:
        again = subject.config_cls.model_validate(data)
    except Exception as exc:
        fail(f"Config.model_validate(config.model_dump(mode='json')) fails: {exc}")
    assert_config_round_trips(config, again, data)
    return again


@conformance_check(*(k for k in KINDS if k not in GRADIENT_KINDS), name="check_config_round_trip")
def _config_plain(subject: Subject, *, configs: Any = None) -> int:
    """``Config.model_validate(config.model_dump(mode="json"))`` equals the config, and the component
    built from it has the same config."""
    checked = 0
    for config in subject.configs(configs):
        obj = seeded(0, functools.partial(subject.build, config))
        again = json_round_trip(subject, obj)
        rebuilt = subject.build(again)
        if rebuilt.config != obj.config:
            fail("a component built from the round-tripped config has a different .config")
        checked += 1
    return checked
