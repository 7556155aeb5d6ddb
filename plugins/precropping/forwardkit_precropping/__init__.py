"""forwardkit-precropping: PreCropping (Cai et al., arXiv 2203.02549), structured pruning at initialisation.

Kept free of imports: discovery imports ``forwardkit_precropping.plugin``, which runs this file first.
"""
