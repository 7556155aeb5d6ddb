"""Two at Once: Enhancing Learning and Generalization Capacities via IBN-Net: forwardkit plugin `ibn-net`.

Kept light on purpose: forwardkit imports ``forwardkit_ibn_net.plugin`` at start-up to read the registrations;
model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
