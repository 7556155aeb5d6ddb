"""Training the Untrainable: Introducing Inductive Bias via Representational Alignment: forwardkit plugin `guidance`.

Kept light on purpose: forwardkit imports ``forwardkit_guidance.plugin`` at start-up to read the registrations;
model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
