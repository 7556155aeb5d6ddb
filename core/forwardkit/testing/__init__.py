"""The forwardkit conformance kit: what ``check_estimator`` is to scikit-learn.

Run every check of a component's kind (class, registry ComponentInfo or ``"kind/name"``)::

    from forwardkit.testing import check_token_mixer, check_component

    check_token_mixer(MyMixer)                 # raises AssertionError listing failures
    report = check_component("token_mixer/attention")
    report.print()                             # table: passed/failed/xfailed/xpassed/skipped

Or one property at a time (plain functions raising AssertionError): ``check_output_shape``,
``check_batch_independence``, ``check_causality``, ``check_pointwise``, ... (see :mod:`.checks`).

In a plugin's tests (``tests/test_conformance.py``)::

    from forwardkit.testing import parametrize_conformance

    @parametrize_conformance(plugin="my-plugin")
    def test_conformance(case, forwardkit_check):
        forwardkit_check(case)

or run ``pytest --forwardkit-conformance`` to add one test per (installed component, check).

A component declares expected failures with their reasons (``expected_failures = {"check_x": "why"}``),
declares parameters that get no gradient by design (``gradient_exempt = {"pattern": "why"}``), pins
the configs the kit uses with ``conformance_configs`` and the models it is applied to with
``conformance_models``. Hypothesis strategies are in :mod:`forwardkit.testing.strategies`; how hard
they draw (examples, seed) is set by the profiles of :mod:`forwardkit.testing.profiles`.

This package imports torch only when one of its names is first used, so that pytest, which loads the
kit's pytest plugin in every run, stays fast when the kit is not used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from forwardkit.lazy import lazy_names

_CHECKS = "forwardkit.testing.checks"
_REPORT = "forwardkit.testing.report"
_PYTEST = "forwardkit.testing.pytest_plugin"
_PROFILES = "forwardkit.testing.profiles"

_LAZY: dict[str, str] = {
    # runners
    "check_component": _CHECKS,
    "check_all": _CHECKS,
    "run_check": _CHECKS,
    "checks_for": _CHECKS,
    "conformance_check": _CHECKS,
    "conformance_cases": _CHECKS,
    "ConformanceCase": _CHECKS,
    "SkipCheck": _CHECKS,
    "Subject": _CHECKS,
    "as_subject": _CHECKS,
    "measure_model": _CHECKS,
    # one entry per kind
    "check_token_mixer": _CHECKS,
    "check_channel_mixer": _CHECKS,
    "check_model": _CHECKS,
    "check_learning_rule": _CHECKS,
    "check_callback": _CHECKS,
    "check_adapter": _CHECKS,
    "check_compressor": _CHECKS,
    "check_dataset": _CHECKS,
    "check_analyzer": _CHECKS,
    # individual properties
    "check_declarations": _CHECKS,
    "check_output_shape": _CHECKS,
    "check_finite": _CHECKS,
    "check_gradients": _CHECKS,
    "check_batch_independence": _CHECKS,
    "check_causality": _CHECKS,
    "check_pointwise": _CHECKS,
    "check_state_dict_round_trip": _CHECKS,
    "check_config_round_trip": _CHECKS,
    "check_determinism": _CHECKS,
    "check_forward_batch": _CHECKS,
    "check_adapter_signature": _CHECKS,
    "check_adapter_inplace": _CHECKS,
    "check_compressor_report": _CHECKS,
    "check_compressor_signature": _CHECKS,
    "check_dataset_determinism": _CHECKS,
    "check_dataset_items": _CHECKS,
    "check_dataset_sizes": _CHECKS,
    "check_analyzer_output": _CHECKS,
    "check_learning_rule_step": _CHECKS,
    "check_callback_events": _CHECKS,
    "check_state_dict_plain": _CHECKS,
    "check_resume": _CHECKS,
    "check_stages": _CHECKS,
    "check_test_time": _CHECKS,
    "check_export": _CHECKS,
    "check_task_loss": _CHECKS,
    "check_task_metrics": _CHECKS,
    "DeclaredFailure": _CHECKS,
    "StaleDeclaration": _CHECKS,
    "get_check": _CHECKS,
    # profiles
    "KitProfile": _PROFILES,
    "active_profile": _PROFILES,
    "configure": _PROFILES,
    # report
    "ConformanceReport": _REPORT,
    "CheckOutcome": _REPORT,
    # pytest
    "parametrize_conformance": _PYTEST,
    "make_conformance_test": _PYTEST,
    # scripts
    "load_script": "forwardkit.testing.scripts",
    # reproduction specs
    "judge_spec": "forwardkit.testing.reproduction",
    "smoke_reproduction": "forwardkit.testing.reproduction",
}
_SUBMODULES = ("strategies", "checks", "report", "toys", "pytest_plugin", "profiles", "resume", "task_checks",
               "scripts", "reproduction", "fixtures")

__all__ = [
    "CheckOutcome",
    "ConformanceCase",
    "ConformanceReport",
    "DeclaredFailure",
    "KitProfile",
    "SkipCheck",
    "StaleDeclaration",
    "Subject",
    "active_profile",
    "as_subject",
    "check_adapter",
    "check_adapter_inplace",
    "check_adapter_signature",
    "check_all",
    "check_analyzer",
    "check_analyzer_output",
    "check_batch_independence",
    "check_callback",
    "check_callback_events",
    "check_causality",
    "check_channel_mixer",
    "check_component",
    "check_compressor",
    "check_compressor_report",
    "check_compressor_signature",
    "check_config_round_trip",
    "check_dataset",
    "check_dataset_determinism",
    "check_dataset_items",
    "check_dataset_sizes",
    "check_declarations",
    "check_determinism",
    "check_export",
    "check_finite",
    "check_forward_batch",
    "check_gradients",
    "check_learning_rule",
    "check_learning_rule_step",
    "check_model",
    "check_output_shape",
    "check_pointwise",
    "check_resume",
    "check_stages",
    "check_state_dict_plain",
    "check_state_dict_round_trip",
    "check_task_loss",
    "check_task_metrics",
    "check_test_time",
    "check_token_mixer",
    "checks",
    "checks_for",
    "configure",
    "conformance_cases",
    "conformance_check",
    "fixtures",
    "get_check",
    "judge_spec",
    "load_script",
    "make_conformance_test",
    "measure_model",
    "parametrize_conformance",
    "profiles",
    "pytest_plugin",
    "report",
    "reproduction",
    "resume",
    "run_check",
    "smoke_reproduction",
    "strategies",
    "task_checks",
    "toys",
]


__getattr__, __dir__ = lazy_names(__name__, _LAZY, __all__, submodules=_SUBMODULES)


if TYPE_CHECKING:  # for type checkers and IDEs
    from forwardkit.testing import (
        checks,
        fixtures,
        profiles,
        pytest_plugin,
        report,
        reproduction,
        resume,
        strategies,
        task_checks,
        toys,
    )
    from forwardkit.testing.checks import (
        ConformanceCase,
        DeclaredFailure,
        SkipCheck,
        StaleDeclaration,
        Subject,
        as_subject,
        check_adapter,
        check_adapter_inplace,
        check_adapter_signature,
        check_all,
        check_analyzer,
        check_analyzer_output,
        check_batch_independence,
        check_callback,
        check_callback_events,
        check_causality,
        check_channel_mixer,
        check_component,
        check_compressor,
        check_compressor_report,
        check_compressor_signature,
        check_config_round_trip,
        check_dataset,
        check_dataset_determinism,
        check_dataset_items,
        check_dataset_sizes,
        check_declarations,
        check_determinism,
        check_export,
        check_finite,
        check_forward_batch,
        check_gradients,
        check_learning_rule,
        check_learning_rule_step,
        check_model,
        check_output_shape,
        check_pointwise,
        check_resume,
        check_stages,
        check_state_dict_plain,
        check_state_dict_round_trip,
        check_task_loss,
        check_task_metrics,
        check_test_time,
        check_token_mixer,
        checks_for,
        conformance_cases,
        conformance_check,
        get_check,
        measure_model,
        run_check,
    )
    from forwardkit.testing.profiles import KitProfile, active_profile, configure
    from forwardkit.testing.pytest_plugin import make_conformance_test, parametrize_conformance
    from forwardkit.testing.report import CheckOutcome, ConformanceReport
    from forwardkit.testing.reproduction import judge_spec, smoke_reproduction
    from forwardkit.testing.scripts import load_script
