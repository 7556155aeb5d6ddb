"""Declared miniature reproductions of each plugin's paper, and the harness behind ``forwardkit reproduce``.

Torch-free at import: :mod:`.spec` and :mod:`.verdict` never import torch; :mod:`.runner` imports it
only when a reproduction runs.
"""

from forwardkit.reproduce.spec import ReproductionSpec, load_spec
from forwardkit.reproduce.verdict import Verdict, decide, summarize

__all__ = ["ReproductionSpec", "Verdict", "decide", "load_spec", "summarize"]
