"""Configs of the raftmlp components (no torch). Defaults are the paper's / official code's."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from forwardkit.config import ComponentConfig, TokenMixerConfig


class RaftMixingConfig(TokenMixerConfig):
    """Raft token mixing (paper sec. 3, official ``PermutedBlock``): vertical MLP over (raft, H), then
    horizontal MLP over (raft, W); rafts are the strided channel sets {j, j+co, ...}, co = C / r."""

    grid: tuple[int, int] = Field((14, 14), description="trained token grid (H0, W0) the MLPs are sized for; "
                                  "filled by the holder from the grid it gives the mixer")
    raft_size: int = Field(2, ge=1, description="r: channels per raft (must divide dim); 1 = per-channel axial MLP")
    expansion: float = Field(2.0, gt=0.0, description="e: hidden width of each raft MLP is e * r * H (or W)")
    inner_norm_and_residual: bool = Field(True, description="True: a = V(z), b = H(LN_h(z + a)), return a + b; "
                                          "False: return H(V(z)) plainly")
    resize_mode: Literal["bicubic", "error"] = Field("bicubic", description="another grid than `grid`: resize "
                                                     "bicubically to it and back, or refuse")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout after the GELU and after the output Linear")

    @model_validator(mode="after")
    def _raft_divides(self) -> RaftMixingConfig:
        if self.dim % self.raft_size:
            raise ValueError(f"raft_size {self.raft_size} must divide dim {self.dim}")
        if min(self.grid) < 1:
            raise ValueError(f"grid {self.grid} must be positive")
        return self


class MixerTokenMLPConfig(TokenMixerConfig):
    """MLP-Mixer token mixing (Tolstikhin et al. 2021, eq. 1): Linear N -> eN -> GELU -> Linear eN -> N."""

    num_tokens: int = Field(196, ge=1, description="N = prod(spatial) the MLP is sized for; filled by the holder")
    expansion: float = Field(2.0, gt=0.0, description="e: hidden width e * N (RaftMLP's org-mixer uses 2)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


class BicubicGridAdapterConfig(ComponentConfig):
    """Wraps every fixed-grid token mixer (raft_mixing, mixer_token_mlp) so it runs at a new grid."""

    mixer_grid: tuple[int, int] | None = Field(None, description="trained grid of mixer_token_mlp mixers; None: "
                                               "the square root of num_tokens (must be a square)")


Size = Literal["tiny", "s", "m", "l", "12_r1", "12_r2", "12_r4", "mixer_12"]


class RaftMLPConfig(ComponentConfig):
    """RaftMLP classifier on ``(B, H, W, C_in)`` images: levels of (cross-scale) patch embedding then
    ``depth`` layers (vertical raft block, horizontal raft block, channel block), LN, mean pool, Linear."""

    size: Size = Field("tiny", description="preset: s/m/l hierarchical (cross-scale embedding), 12_r* isotropic "
                       "(patch 16, dim 768, depth 12, r in 1/2/4), mixer_12 (org-mixer token MLP), tiny (tests)")
    in_channels: int = Field(3, ge=1)
    num_classes: int = Field(1000, ge=1)
    image_size: int = Field(224, ge=1, description="training image size: fixes every level's token grid")
    drop_path: float = Field(0.1, ge=0.0, lt=1.0, description="constant drop-path rate in every block")
    token_expansion: float = Field(2.0, gt=0.0)
    channel_expansion: float = Field(4.0, gt=0.0)

    @model_validator(mode="after")
    def _fits(self) -> RaftMLPConfig:
        from forwardkit_raftmlp.presets import PRESETS  # torch-free

        p = PRESETS[self.size]
        g = self.image_size
        for lvl, patch in enumerate(p["patches"]):
            g = -(-g // patch)
            if g < 1:
                raise ValueError(f"image_size {self.image_size} too small for level {lvl}")
        return self


class PaddedResolutionConfig(ComponentConfig):
    """Settings of the ``padded_resolution`` analyzer (the card's resolution check)."""

    size: tuple[int, int] = Field((32, 32), description="(H, W) the images are padded to, centred; must be at "
                                  "least the native size")
    max_batches: int | None = Field(None, ge=1, description="analyse at most this many of the given batches "
                                    "(None: all)")
