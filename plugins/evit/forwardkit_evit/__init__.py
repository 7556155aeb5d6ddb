"""forwardkit plugin `evit`: Not All Patches are What You Need: Expediting Vision Transformers via Token
Reorganizations (EViT, Liang et al., ICLR 2022).

Kept light on purpose: forwardkit imports ``forwardkit_evit.plugin`` at start-up to read the registrations;
model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
