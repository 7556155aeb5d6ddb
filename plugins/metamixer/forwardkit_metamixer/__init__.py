"""MetaMixer Is All You Need: forwardkit plugin `metamixer`.

Kept light on purpose: forwardkit imports ``forwardkit_metamixer.plugin`` at start-up to read the registrations;
model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
