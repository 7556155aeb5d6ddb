"""CNN Filter DB: An Empirical Investigation of Trained Convolutional Filters: forwardkit plugin `cnn-filter-db`.

Kept light on purpose: forwardkit imports ``forwardkit_cnn_filter_db.plugin`` at start-up to read the registrations;
model code lives in its own modules and is imported on first use.
"""

__version__ = "0.1.0"
