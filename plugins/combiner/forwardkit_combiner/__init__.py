"""Combiner: Full Attention Transformer with Sparse Computation Cost: forwardkit plugin `combiner`.

Kept light on purpose: forwardkit imports ``forwardkit_combiner.plugin`` at start-up to read the registrations;
model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
