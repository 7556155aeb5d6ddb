"""Backpropagation-free Training of Deep Physical Neural Networks: forwardkit plugin `model-free-ff`.

Kept light on purpose: forwardkit imports ``forwardkit_model_free_ff.plugin`` at start-up to read the registrations;
model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
