"""Conformance checks: one ``check_<kind>`` per kind, and the individual properties as plain functions.

Every check takes a component *class*, a registry :class:`~forwardkit.registry.ComponentInfo` or a
``"kind/name"`` string, returns None when the property holds, raises :class:`AssertionError` with a
clear message when it does not, and raises :class:`SkipCheck` (a :class:`unittest.SkipTest`, shown
by pytest as a skip) when there is nothing to check. Called directly, a check ignores the component's
``expected_failures`` and ``gradient_exempt``; the runners (:func:`run_check`,
:func:`check_component`, :func:`check_all`, ``check_<kind>`` and the pytest plugin) apply them: a
declared failure that fails is ``xfailed``, one that passes is ``xpassed`` and counts as a failure.
A check that ran on no case fails.

Options every runner passes through (a check ignores those it does not use):

``configs``       config dicts to check instead of the component's ``conformance_configs``/defaults.
``models``        model specs for kinds that act on a model (``"toy"``, ``"metaformer"``, a spec dict,
                  or a zero-argument factory); default: the component's ``conformance_models``, else
                  :data:`forwardkit.testing.toys.DEFAULT_MODELS`.
``max_examples``  hypothesis examples drawn per mixer property (default: the active profile's, see
                  :mod:`forwardkit.testing.profiles`).
``seed``          the seed of those draws (default: the active profile's); a failure on a drawn case
                  names the seed that replays it.

The checks live in one module per family: :mod:`.common` (the component under test, registration),
:mod:`.declarations` (every kind), :mod:`.mixers`, :mod:`.models` (with :mod:`.modules`, what both
share), :mod:`.export` (torch.export and ONNX, mixers and models), :mod:`.adapters`, :mod:`.compressors`,
:mod:`.datasets`, :mod:`.analyzers`, :mod:`.rules` (learning rules and callbacks), :mod:`.resume` (exact
resume through the trainer, one stage or two: ``check_resume``, ``check_stages``), :mod:`.test_time`
(test-time adaptation through the engine), :mod:`.tasks`, and the runners in :mod:`.runners`.

Extension point
    New checks register with :func:`conformance_check` and are picked up by every runner and by the
    pytest plugin, as the family modules do.
"""

from __future__ import annotations

# the family modules register their checks on import, in this order (the order runners run them)
# isort: off
from forwardkit.testing.checks import declarations as _declarations
from forwardkit.testing.checks import mixers as _mixers
from forwardkit.testing.checks import models as _models
from forwardkit.testing.checks import export as _export
from forwardkit.testing.checks import adapters as _adapters
from forwardkit.testing.checks import compressors as _compressors
from forwardkit.testing.checks import datasets as _datasets
from forwardkit.testing.checks import analyzers as _analyzers
from forwardkit.testing.checks import rules as _rules
from forwardkit.testing.checks import resume as _resume
from forwardkit.testing.checks import test_time as _test_time
from forwardkit.testing.checks import tasks as _tasks

# isort: on
from forwardkit.testing.checks import common as _common
from forwardkit.testing.checks.adapters import check_adapter_inplace, check_adapter_signature
from forwardkit.testing.checks.analyzers import check_analyzer_output
from forwardkit.testing.checks.common import (
    NO_CASE,
    OPTIONS,
    DeclaredFailure,
    SkipCheck,
    StaleDeclaration,
    Subject,
    as_subject,
    checks_for,
    conformance_check,
    fail,
    get_check,
)
from forwardkit.testing.checks.compressors import check_compressor_report, check_compressor_signature, measure_model
from forwardkit.testing.checks.datasets import check_dataset_determinism, check_dataset_items, check_dataset_sizes
from forwardkit.testing.checks.declarations import check_declarations
from forwardkit.testing.checks.export import check_export
from forwardkit.testing.checks.helpers import SAME, UNCHANGED
from forwardkit.testing.checks.models import check_forward_batch
from forwardkit.testing.checks.resume import check_resume, check_stages
from forwardkit.testing.checks.rules import check_callback_events, check_learning_rule_step, check_state_dict_plain
from forwardkit.testing.checks.runners import (
    ConformanceCase,
    check_adapter,
    check_all,
    check_analyzer,
    check_callback,
    check_channel_mixer,
    check_component,
    check_compressor,
    check_dataset,
    check_learning_rule,
    check_model,
    check_token_mixer,
    conformance_cases,
    run_check,
)
from forwardkit.testing.checks.tasks import check_task_loss, check_task_metrics
from forwardkit.testing.checks.test_time import check_test_time

# the registries of checks (tests that register a check restore them afterwards)
_IMPLS, _ORDER, _PUBLIC = _common._IMPLS, _common._ORDER, _common._PUBLIC

# public names of the checks whose implementations are private (one per kind)
check_output_shape = get_check("check_output_shape")
check_finite = get_check("check_finite")
check_gradients = get_check("check_gradients")
check_batch_independence = get_check("check_batch_independence")
check_causality = get_check("check_causality")
check_pointwise = get_check("check_pointwise")
check_state_dict_round_trip = get_check("check_state_dict_round_trip")
check_config_round_trip = get_check("check_config_round_trip")
check_determinism = get_check("check_determinism")

_FAMILIES = (
    _declarations,
    _mixers,
    _models,
    _export,
    _adapters,
    _compressors,
    _datasets,
    _analyzers,
    _rules,
    _resume,
    _test_time,
    _tasks,
)

__all__ = [
    "NO_CASE",
    "OPTIONS",
    "SAME",
    "UNCHANGED",
    "ConformanceCase",
    "DeclaredFailure",
    "SkipCheck",
    "StaleDeclaration",
    "Subject",
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
    "checks_for",
    "conformance_cases",
    "conformance_check",
    "fail",
    "get_check",
    "measure_model",
    "run_check",
]
