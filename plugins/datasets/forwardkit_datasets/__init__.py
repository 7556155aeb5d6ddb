"""forwardkit-datasets: offline datasets built from data that ships inside installed packages.

Importing this package is light (no torch, no scikit-learn); the dataset modules load on first use:
``forwardkit_datasets.digits`` (digits, mnist5k), ``forwardkit_datasets.images`` (textures and the crop
functions), ``forwardkit_datasets.timeseries`` (statsmodels series as forecasting windows),
``forwardkit_datasets.domain_shift`` (style_shift_digits: digits in a source and appearance-shifted
target domains) and ``forwardkit_datasets.tasks`` (the ``style_shift`` per-domain accuracy task).
"""

__version__ = "0.1.0"
