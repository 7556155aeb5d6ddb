"""Selfie: Self-supervised Pretraining for Image Embedding: forwardkit plugin `selfie`.

Kept light on purpose: forwardkit imports ``forwardkit_selfie.plugin`` at start-up to read the registrations;
torch code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
