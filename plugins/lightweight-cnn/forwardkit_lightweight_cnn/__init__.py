"""Building Efficient Lightweight CNN Models: forwardkit plugin `lightweight-cnn`.

Kept light on purpose: forwardkit imports ``forwardkit_lightweight_cnn.plugin`` at start-up to read the registrations;
model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
