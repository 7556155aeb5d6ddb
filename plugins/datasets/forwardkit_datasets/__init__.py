"""forwardkit-datasets: offline datasets built from data that ships inside installed packages.

Importing this package is light (no torch, no scikit-learn); the dataset modules load on first use:
``forwardkit_datasets.digits`` (digits, mnist5k), ``forwardkit_datasets.images`` (textures and the crop
functions), ``forwardkit_datasets.timeseries`` (statsmodels series as forecasting windows).
"""

__version__ = "0.1.0"
