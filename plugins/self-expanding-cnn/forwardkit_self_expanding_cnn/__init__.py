"""Self Expanding Convolutional Neural Networks: forwardkit plugin `self-expanding-cnn`.

Kept light on purpose: forwardkit imports ``forwardkit_self_expanding_cnn.plugin`` at start-up to read the
registrations; model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
