"""Scaling Local Self-Attention for Parameter Efficient Visual Backbones: forwardkit plugin `halonet`.

Kept light on purpose: forwardkit imports ``forwardkit_halonet.plugin`` at start-up to read the registrations;
model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
