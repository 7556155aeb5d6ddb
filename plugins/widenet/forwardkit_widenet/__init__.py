"""Go Wider Instead of Deeper (WideNet, Xue et al., AAAI 2022): forwardkit plugin `widenet`.

Kept light on purpose: forwardkit imports ``forwardkit_widenet.plugin`` at start-up to read the registrations;
model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
