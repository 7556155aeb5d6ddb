"""Domain-Adversarial Training of Neural Networks: forwardkit plugin `dann`.

Kept light on purpose: forwardkit imports ``forwardkit_dann.plugin`` at start-up to read the registrations;
model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
