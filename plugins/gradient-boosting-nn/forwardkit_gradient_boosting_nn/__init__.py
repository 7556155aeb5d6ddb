"""Sequential Training of Neural Networks with Gradient Boosting: forwardkit plugin `gradient-boosting-nn`.

Kept light on purpose: forwardkit imports ``forwardkit_gradient_boosting_nn.plugin`` at start-up to read the
registrations; model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
