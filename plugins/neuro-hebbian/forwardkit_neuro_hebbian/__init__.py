"""Neuro-Modulated Hebbian Learning for Fully Test-Time Adaptation: forwardkit plugin `neuro-hebbian`.

Kept light on purpose: forwardkit imports ``forwardkit_neuro_hebbian.plugin`` at start-up to read the registrations;
model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
