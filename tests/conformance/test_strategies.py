"""The kit's hypothesis strategies: configs drawn from a pydantic schema, token shapes and cases."""

from __future__ import annotations

import enum
from typing import Any, ClassVar, Literal

import torch
from hypothesis import given
from pydantic import Field, model_validator

from forwardkit.config import ComponentConfig, TokenMixerConfig
from forwardkit.interfaces import TokenMixer
from forwardkit.testing import profiles
from forwardkit.testing import strategies as fks


class Mode(enum.Enum):
    A = "a"
    B = "b"


class RichConfig(TokenMixerConfig):
    flag: bool = False
    act: Literal["gelu", "relu", "silu"] = "relu"
    mode: Mode = Mode.B
    kernel: int = Field(5, ge=3, le=7)
    heads: int | None = Field(None, ge=1)
    ratio: float = Field(2.0, gt=0.0, le=4.0)
    drop: float = Field(0.0, ge=0.0, lt=1.0)
    depths: list[int] = Field(default_factory=lambda: [1, 2])
    name: str = "x"

    @model_validator(mode="after")
    def _odd_kernel(self) -> RichConfig:
        if self.kernel % 2 == 0:
            raise ValueError("kernel must be odd")
        return self


class Rich(TokenMixer):
    Config = RichConfig
    ranks = frozenset({1, 2})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Pinned(Rich):
    conformance_configs: ClassVar[list[dict[str, Any]]] = [{"dim": 4, "kernel": 3}, {"dim": 6, "flag": True}]


@fks.conformance_settings(max_examples=40)
@given(fks.configs(Rich))
def test_drawn_configs_validate_and_stay_near_defaults(data: dict[str, Any]) -> None:
    cfg = RichConfig.model_validate(data)  # every draw validates (the odd-kernel rule included)
    assert "depths" not in data and "name" not in data  # undrawable fields keep their defaults
    assert cfg.depths == [1, 2] and cfg.name == "x"
    assert cfg.kernel in (3, 5)  # 5; 5 // 2 = 2 is out of bounds; 4 is rejected (even); 3 is the lower bound
    assert cfg.heads in (None, 1, 2, 4)
    assert cfg.ratio in (2.0, 1.0) and cfg.drop in (0.0, 0.1)
    assert isinstance(cfg.mode, Mode) and cfg.act in ("gelu", "relu", "silu")


def test_configs_cover_the_choices() -> None:
    seen: dict[str, set[Any]] = {"flag": set(), "act": set(), "kernel": set(), "heads": set()}

    @fks.conformance_settings(max_examples=60)
    @given(fks.configs(Rich, fixed={"dim": 8}))
    def collect(data: dict[str, Any]) -> None:
        assert data["dim"] == 8
        for key in seen:
            seen[key].add(data[key])

    collect()
    assert seen["flag"] == {False, True}
    assert seen["act"] == {"gelu", "relu", "silu"}
    assert seen["kernel"] == {3, 5}
    assert None in seen["heads"] and len(seen["heads"]) > 1


@fks.conformance_settings()
@given(fks.configs(Pinned))
def test_pinned_configs_are_the_only_draws(data: dict[str, Any]) -> None:
    assert data in Pinned.conformance_configs


def test_undrawable_required_fields() -> None:
    class Needs(ComponentConfig):
        path: str
        size: int
        on: bool = True

    assert fks.undrawable_required_fields(Needs) == ["path"]


@fks.conformance_settings(max_examples=30)
@given(fks.token_shapes([1, 3], 5, min_batch=2, max_batch=3))
def test_token_shapes_use_only_the_given_ranks(shape: tuple[int, ...]) -> None:
    assert len(shape) in (3, 5)  # (B, N, C) or (B, T, H, W, C)
    assert 2 <= shape[0] <= 3 and shape[-1] == 5
    low, high = fks.SPATIAL_SIZES[len(shape) - 2]
    assert all(low <= s <= high for s in shape[1:-1])


@fks.conformance_settings(max_examples=10)
@given(fks.token_inputs([2], 3))
def test_token_inputs_are_float_tensors(x: torch.Tensor) -> None:
    assert x.dtype == torch.float32 and x.dim() == 4 and x.shape[-1] == 3


@fks.conformance_settings(max_examples=30)
@given(fks.mixer_cases(Rich))
def test_mixer_cases_follow_the_declared_ranks(case: fks.MixerCase) -> None:
    assert case.rank in (1, 2)
    assert case.config["dim"] in fks.DIMS
    x = case.tokens(case.config["dim"])
    assert x.shape == case.shape(case.config["dim"])
    assert torch.equal(x, case.tokens(case.config["dim"]))  # seeded


def test_explicit_cases_are_pinned_configs_at_canonical_shapes() -> None:
    cases = fks.explicit_mixer_cases(Pinned)
    assert [(c.config, c.spatial) for c in cases] == [
        ({"dim": 4, "kernel": 3}, (8,)),
        ({"dim": 4, "kernel": 3}, (4, 6)),
        ({"dim": 6, "flag": True}, (8,)),
        ({"dim": 6, "flag": True}, (4, 6)),
    ]
    assert all(c.explicit for c in cases)
    assert [c.config for c in fks.explicit_mixer_cases(Rich, fixed={"causal": True}, ranks=[1])] == [{"causal": True}]


def test_settings_are_reproducible() -> None:
    s = fks.conformance_settings(profile=profiles.PROFILES["default"])  # whatever FORWARDKIT_PROFILE says
    assert s.derandomize and s.deadline is None and s.database is None
    assert s.max_examples == fks.MAX_EXAMPLES
    assert fks.conformance_settings(3).max_examples == 3
