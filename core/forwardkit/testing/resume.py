"""``check_resume``, kept at its first import path: the check lives in :mod:`forwardkit.testing.checks.resume`.

A run checkpointed at step k and resumed ends equal to the uninterrupted run, for learning rules and
callbacks, in a single run (``check_resume``) and inside the second stage of a two-stage experiment
(``check_stages``); see that module (and ``conformance_experiment``) for the details.
"""

from __future__ import annotations

from forwardkit.testing.checks.resume import (
    INTERRUPT_AT,
    UNDER_TEST,
    check_resume,
    check_stages,
    default_experiment,
    resume_experiment,
    stages_experiment,
)

__all__ = [
    "INTERRUPT_AT",
    "UNDER_TEST",
    "check_resume",
    "check_stages",
    "default_experiment",
    "resume_experiment",
    "stages_experiment",
]
