"""Transforming Image Super-Resolution: A ConvFormer-based Efficient Approach (CFSR): forwardkit plugin `cfsr`.

Kept light on purpose: forwardkit imports ``forwardkit_cfsr.plugin`` at start-up to read the registrations;
model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
