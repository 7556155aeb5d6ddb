"""Configs of the cfsr components (no torch here: discovery, ``show`` and validation import it).

Defaults are the paper's / the official code's (Aitical/CFSR ``basicsr/archs/cfsr_arch.py`` and
``options/test_CFSR_SRx{2,3,4}.yml``): embed_dim 48, depths (6, 6), dw_size 9, small_kernel 3, mlp_ratio 2,
layer scale 1e-6, EFN edge branches Sobel-x, Sobel-y and Laplacian with the released kernels.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from forwardkit.config import ChannelMixerConfig, ComponentConfig, TokenMixerConfig

EdgeKernel = Literal["sobel_x", "sobel_y", "laplacian"]
KernelVariant = Literal["released", "textbook"]
EDGE_KERNELS: tuple[EdgeKernel, ...] = ("sobel_x", "sobel_y", "laplacian")
#: the RGB mean CFSR subtracts (DIV2K's, as every BasicSR SR network)
DIV2K_RGB_MEAN: tuple[float, float, float] = (0.4488, 0.4371, 0.4040)


def _odd(name: str, value: int | None, minimum: int = 1) -> int | None:
    if value is not None and (value < minimum or value % 2 == 0):
        raise ValueError(f"{name} must be an odd integer >= {minimum} (got {value}): a centred 'same' convolution")
    return value


def _distinct(name: str, values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError(f"{name} lists a kernel more than once: {values}")
    return values


class ConvModulationConfig(TokenMixerConfig):
    """ConvMod (paper sec. III-B, eq. 2-3; official ``ConvMod``): ``proj(DW_k(GELU(W_a z)) * W_v z)``."""

    kernel_size: int = Field(9, description="large depthwise kernel k (dw_size); odd")
    small_kernel: int | None = Field(
        3, description="training-time parallel small depthwise kernel merged into the large one (RepLKNet-style "
        "ReparamLargeKernelConv of the official code); None: off (also off when not smaller than kernel_size)")
    edge_kernels: list[EdgeKernel] = Field(
        default_factory=list, description="fixed edge branches on the large kernel too (the official training "
        "code's 'AllEdge' form adds Sobel-x/y and Laplacian to the small kernel); [] = CFSR as in the paper (2-D only)")
    kernel_variant: KernelVariant = Field("released", description="edge kernels as released or textbook (see edges)")
    scale_init_std: float = Field(1e-3, ge=0.0, description="std of the normal init of the edge scales and biases")
    inner_norm: bool = Field(False, description="LayerNorm (with bias, eps 1e-6) inside the mixer as the official "
                             "ConvMod; False in forwardkit blocks, which pre-norm (the same function)")
    act: Literal["gelu", "relu", "silu", "identity"] = Field("gelu", description="activation before the large kernel")
    merged: bool = Field(False, description="build the inference form: one depthwise conv, no branches")
    spatial_rank: int = Field(2, ge=1, le=3, description="spatial rank of the tokens (filled by the holder)")

    _k = field_validator("kernel_size")(classmethod(lambda cls, v: _odd("kernel_size", v)))
    _s = field_validator("small_kernel")(classmethod(lambda cls, v: _odd("small_kernel", v)))
    _e = field_validator("edge_kernels")(classmethod(lambda cls, v: _distinct("edge_kernels", v)))

    @model_validator(mode="after")
    def _edges_are_2d(self) -> ConvModulationConfig:
        if self.edge_kernels and (self.spatial_rank != 2 or self.kernel_size < 3):
            raise ValueError("edge_kernels are 3x3 image filters: they need spatial_rank 2 and kernel_size >= 3")
        return self


class EdgeFFNConfig(ChannelMixerConfig):
    """Edge-preserving FFN (EFN, paper sec. III-C, eq. 4-6; official ``MLP``).

    ``t = GELU(W_1 z)``; ``u = DW_3(t) + sum_e (s_e * (K_e conv t) + b_e)``; ``out = W_2 (t + GELU(u))``.
    """

    ratio: float = Field(2.0, gt=0.0, description="hidden width / C (mlp_ratio)")
    kernel_size: int = Field(3, description="the depthwise conv of the hidden features; odd, >= 3 (edges are 3x3)")
    edge_kernels: list[EdgeKernel] = Field(default_factory=lambda: list(EDGE_KERNELS),
                                           description="fixed edge branches, each with per-channel scale and bias")
    kernel_variant: KernelVariant = Field("released", description="edge kernels as released (index slips in Sobel-x "
                                          "and Laplacian) or textbook (ECBSR's)")
    scale_init_std: float = Field(1e-3, ge=0.0, description="std of the normal init of the edge scales and biases")
    inner_norm: bool = Field(False, description="LayerNorm (with bias, eps 1e-6) inside, as the official MLP; False in "
                             "forwardkit blocks, which pre-norm")
    merged: bool = Field(False, description="build the inference form: edge branches folded into the depthwise conv")

    _k = field_validator("kernel_size")(classmethod(lambda cls, v: _odd("kernel_size", v, minimum=3)))
    _e = field_validator("edge_kernels")(classmethod(lambda cls, v: _distinct("edge_kernels", v)))


CFSRPreset = Literal["cfsr_x2", "cfsr_x3", "cfsr_x4", "cfsr_tiny"]
#: the presets: the released x2/x3/x4 networks (test yml) and a CPU-sized one; fields set explicitly win
PRESETS: dict[str, dict[str, Any]] = {
    "cfsr_x2": {"scale": 2, "embed_dim": 48, "depths": [6, 6], "dw_size": 9, "mlp_ratio": 2.0},
    "cfsr_x3": {"scale": 3, "embed_dim": 48, "depths": [6, 6], "dw_size": 9, "mlp_ratio": 2.0},
    "cfsr_x4": {"scale": 4, "embed_dim": 48, "depths": [6, 6], "dw_size": 9, "mlp_ratio": 2.0},
    "cfsr_tiny": {"embed_dim": 24, "depths": [2, 2], "dw_size": 9, "mlp_ratio": 2.0},
}


class CFSRConfig(ComponentConfig):
    """CFSR (paper sec. III, fig. 2; official ``CFSR`` / ``Conv2Former_AllEdge`` with upsampler
    ``pixelshuffledirect``): LR ``(B, h, w, 3)`` in [0, 1] -> SR ``(B, s h, s w, 3)``."""

    preset: CFSRPreset | None = Field(None, description="cfsr_x2/x3/x4 (released) or cfsr_tiny (C 24, depths [2, 2]); "
                                      "fills the fields not set explicitly")
    scale: Literal[2, 3, 4] = Field(2, description="upscaling factor (filled from the dataset's extra['scale'])")
    in_channels: int = Field(3, ge=1, description="image channels (the RGB mean is subtracted when 3)")
    embed_dim: int = Field(48, ge=1, description="width C")
    depths: list[int] = Field(default_factory=lambda: [6, 6], min_length=1, description="ConvFormer blocks per layer")
    dw_size: int = Field(9, description="ConvMod large kernel; odd")
    small_kernel: int | None = Field(3, description="training-time small kernel of ConvMod (None: off)")
    mixer_edge_kernels: list[EdgeKernel] = Field(default_factory=list,
                                                 description="edge branches on ConvMod's kernel too ('AllEdge')")
    mlp_ratio: float = Field(2.0, gt=0.0, description="EFN expansion")
    edge_kernels: list[EdgeKernel] = Field(default_factory=lambda: list(EDGE_KERNELS),
                                           description="EFN edge branches ([]: a plain depthwise FFN)")
    kernel_variant: KernelVariant = Field("released", description="edge kernels as released or textbook")
    layer_scale_init: float = Field(1e-6, gt=0.0, description="init of the per-channel layer scales g1, g2")
    img_range: float = Field(1.0, gt=0.0, description="pixel range multiplier (BasicSR img_range)")
    rgb_mean: tuple[float, float, float] = Field(DIV2K_RGB_MEAN, description="mean subtracted from RGB inputs")
    merged: bool = Field(False, description="build the inference form (every branch folded, the released form)")
    image_size: int = Field(16, ge=4, description="LR side of example_batch()")

    _k = field_validator("dw_size")(classmethod(lambda cls, v: _odd("dw_size", v)))
    _s = field_validator("small_kernel")(classmethod(lambda cls, v: _odd("small_kernel", v)))

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("preset") is None:
            return data
        preset = PRESETS.get(data["preset"])
        if preset is None:
            return data  # the Literal field reports the unknown preset
        if "scale" in preset and "scale" in data and data["scale"] != preset["scale"]:
            raise ValueError(f"preset {data['preset']!r} is the x{preset['scale']} network, but scale={data['scale']}"
                             f" (the data's scale); use preset 'cfsr_x{data['scale']}' or 'cfsr_tiny'")
        return {**preset, **data}

    @model_validator(mode="after")
    def _check(self) -> CFSRConfig:
        if any(d < 1 for d in self.depths):
            raise ValueError(f"depths must be >= 1, got {self.depths}")
        return self


class SRCNNConfig(ComponentConfig):
    """The plain CNN baseline of the reproduction: ``depth`` 3x3 convs with ReLU, pixel shuffle, plus the
    bicubic upscaling of the input (a global residual)."""

    scale: Literal[2, 3, 4] = Field(2, description="upscaling factor (filled from the dataset's extra['scale'])")
    in_channels: int = Field(3, ge=1)
    width: int = Field(35, ge=1, description="channels of the hidden convs (35: as many parameters as cfsr_tiny)")
    depth: int = Field(5, ge=2, description="3x3 conv layers (the last one outputs in_channels * scale^2)")
    residual: Literal["bicubic", "none"] = Field("bicubic", description="add the bicubic upscaling of the input")
    image_size: int = Field(16, ge=4, description="LR side of example_batch()")


class MergeBranchesConfig(ComponentConfig):
    """Structural re-parameterisation for inference: every branch set folded into one depthwise conv."""

    check_batch: int = Field(2, ge=1, description="example batch on which the output difference is measured")


class SRMetricsConfig(ComponentConfig):
    """PSNR / SSIM on the Y channel of a SR model on the held-out photos (or the given batches), with bicubic."""

    scale: int | None = Field(None, ge=1, le=4, description="None: the model's config.scale")
    crop_border: int | None = Field(None, ge=0, description="None: the scale")
    test_images: list[str] = Field(default_factory=lambda: ["chelsea", "flower"],
                                   description="held-out photos of sr_patches scored when the data carry no HR 'y'")
    use_data: bool = Field(True, description="score the given batches when they carry HR targets 'y'")
