"""forwardkit-datasets: offline datasets built from data that ships inside installed packages.

Importing this package is light (no torch, no scikit-learn); the dataset modules load on first use:
``forwardkit_datasets.digits`` (digits, mnist5k), ``forwardkit_datasets.images`` (textures and the crop
functions), ``forwardkit_datasets.timeseries`` (statsmodels series as forecasting windows),
``forwardkit_datasets.domain_shift`` (style_shift_digits: digits in a source and appearance-shifted
target domains), ``forwardkit_datasets.tasks`` (the ``style_shift`` per-domain accuracy task),
``forwardkit_datasets.super_resolution`` (sr_patches: bicubic LR/HR pairs of bundled photos) and
``forwardkit_datasets.restoration`` (the ``image_restoration`` task: PSNR/SSIM on the Y channel).
``forwardkit_datasets.mnistm`` holds mnistm_digits (MNIST -> MNIST-M-like shift with an unlabelled target split).
"""

__version__ = "0.1.0"
