"""A Critical Review of Recurrent Neural Networks for Sequence Learning: forwardkit plugin `rnn-review`.

Kept light on purpose: forwardkit imports ``forwardkit_rnn_review.plugin`` at start-up to read the
registrations; model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
