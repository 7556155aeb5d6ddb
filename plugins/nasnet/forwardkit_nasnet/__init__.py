"""Learning Transferable Architectures for Scalable Image Recognition: forwardkit plugin `nasnet`.

Kept light on purpose: forwardkit imports ``forwardkit_nasnet.plugin`` at start-up to read the registrations;
model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
