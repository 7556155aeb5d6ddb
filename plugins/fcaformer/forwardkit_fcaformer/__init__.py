"""forwardkit-fcaformer: FcaFormer, forward cross attention in hybrid vision transformers (arXiv 2211.07198).

Light on import (no torch): the model code lives in the submodules, one idea each --
``bias`` (LeViT attention bias), ``attention`` (the joint softmax over own and cross tokens, LSF, beta),
``bank`` (the per-forward cross-token bank), ``tme`` (token merge and enhancement), ``blocks`` (Fca and
ConvNeXt blocks), ``stage`` (the Fca stage that owns the bank), ``model`` (``fcaformer``), ``analyzer``
(attention mass on cross tokens).
"""
