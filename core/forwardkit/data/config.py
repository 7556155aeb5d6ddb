"""The config fields every dataset with held-out splits shares (torch-free, for plugins' config modules)."""

from __future__ import annotations

from pydantic import Field, model_validator

from forwardkit.config import ComponentConfig

__all__ = ["SplitConfig"]


class SplitConfig(ComponentConfig):
    """Fields every dataset with held-out splits has: the val/test fractions and the seed.

    The seed fixes the split (and, for generated data, the samples): the same config gives the same
    items in every process.
    """

    val_fraction: float = Field(0.15, ge=0.0, lt=1.0, description="share of the samples in 'val'")
    test_fraction: float = Field(0.15, ge=0.0, lt=1.0, description="share of the samples in 'test'")
    seed: int = Field(0, ge=0, description="seed of the generator and of the train/val/test split")

    @model_validator(mode="after")
    def _check_fractions(self) -> SplitConfig:
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                f"val_fraction + test_fraction must be below 1 (got {self.val_fraction} + {self.test_fraction}),"
                " or 'train' would be empty"
            )
        return self
