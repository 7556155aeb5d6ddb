"""MetaFormer Baselines for Vision: forwardkit plugin `metaformer-baselines`.

Kept light on purpose: forwardkit imports ``forwardkit_metaformer_baselines.plugin`` at start-up to read the
registrations; model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
