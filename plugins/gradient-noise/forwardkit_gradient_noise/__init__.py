"""Adding Gradient Noise Improves Learning for Very Deep Networks: forwardkit plugin `gradient-noise`.

Kept light on purpose: forwardkit imports ``forwardkit_gradient_noise.plugin`` at start-up to read the registrations;
model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
