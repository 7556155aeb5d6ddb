"""EfficientTrain: Exploring Generalized Curriculum Learning for Training Visual Backbones: forwardkit plugin
`efficienttrain`.

Kept light on purpose: forwardkit imports ``forwardkit_efficienttrain.plugin`` at start-up to read the
registrations; torch code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
