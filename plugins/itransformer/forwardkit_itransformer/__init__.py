"""iTransformer: Inverted Transformers Are Effective for Time Series Forecasting: forwardkit plugin `itransformer`.

Kept light on purpose: forwardkit imports ``forwardkit_itransformer.plugin`` at start-up to read the registrations;
model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
