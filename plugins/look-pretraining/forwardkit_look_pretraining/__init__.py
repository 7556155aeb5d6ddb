"""forwardkit-look-pretraining: LOOK (Feng et al., ICLR 2022, arXiv:2110.06014). Kept free of imports."""
