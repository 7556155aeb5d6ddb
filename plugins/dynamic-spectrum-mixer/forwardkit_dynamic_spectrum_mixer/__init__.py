"""forwardkit plugin: Dynamic Spectrum Mixer for Visual Recognition (arXiv 2309.06721), reconstructed."""
