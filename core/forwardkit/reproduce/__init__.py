"""Declared miniature reproductions of each plugin's paper, and the harness behind ``forwardkit reproduce``.

Torch-free at import: :mod:`.spec`, :mod:`.conditions`, :mod:`.stats` and :mod:`.verdict` never import
torch; :mod:`.runner` imports it only when a reproduction runs.
"""

from forwardkit.reproduce.conditions import (
    AnyOf,
    Compare,
    Equal,
    Figure,
    Monotone,
    Ratio,
    SeedCount,
    StdRule,
    Threshold,
)
from forwardkit.reproduce.spec import ProgramArm, ReproductionSpec, load_spec
from forwardkit.reproduce.verdict import Verdict, judge, summarize

__all__ = ["AnyOf", "Compare", "Equal", "Figure", "Monotone", "ProgramArm", "Ratio", "ReproductionSpec", "SeedCount",
           "StdRule", "Threshold", "Verdict", "judge", "load_spec", "summarize"]
