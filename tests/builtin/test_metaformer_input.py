"""The metaformer learns its input size: each stage's grid, mixers built for it (fields_for_input), supports()
checked at build time as a ConfigError (exit status 2 from the CLI), and the legacy fields_for_rank."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from typing import Any, ClassVar

import pytest
import torch
from pydantic import Field
from torch import Tensor, nn

import forwardkit
from forwardkit.builtin.metaformer import MetaFormer
from forwardkit.config import ChannelMixerConfig, TokenMixerConfig, TokenMixerSpec, input_fields
from forwardkit.engine import Trainer
from forwardkit.errors import ConfigError
from forwardkit.interfaces import ChannelMixer, DatasetMetadata, TokenMixer
from forwardkit.registry import Registry

SMALL = {"name": "metaformer", "depths": [1, 1, 1, 1], "dims": [8, 8, 8, 8], "num_classes": 3}


class TokenMLPConfig(TokenMixerConfig):
    num_tokens: int | None = Field(None, ge=1, description="N of the (B, N, C) tokens; filled from the grid")


class TokenMLP(TokenMixer):
    """A fixed-size token MLP (MLP-Mixer's token mixing, Tolstikhin et al. 2021, eq. 1): Linear over N."""

    Config = TokenMLPConfig
    config: TokenMLPConfig
    seen: ClassVar[list[tuple[int | None, ...]]] = []

    def __init__(self, config: Any = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        if self.config.num_tokens is None:
            raise ValueError("token_mlp needs num_tokens (a holder that knows the grid fills it)")
        self.mix = nn.Linear(self.config.num_tokens, self.config.num_tokens)

    @classmethod
    def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
        cls.seen.append(spatial)
        return {} if None in spatial else {"num_tokens": math.prod(spatial)}  # type: ignore[arg-type]

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return math.prod(spatial) == self.config.num_tokens

    def forward(self, x: Tensor) -> Tensor:
        tokens = x.reshape(x.shape[0], -1, x.shape[-1])
        return self.mix(tokens.transpose(1, 2)).transpose(1, 2).reshape(x.shape)


class EvenGrid(TokenMixer):
    """Accepts only grids whose last axis is even."""

    Config = TokenMixerConfig

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return super().supports(spatial) and spatial[-1] % 2 == 0

    def forward(self, x: Tensor) -> Tensor:
        return x


class AxesConfig(ChannelMixerConfig):
    axes: int = 2


class DepthwiseFFN(ChannelMixer):
    """A channel mixer with a depthwise conv of ``axes`` kernel axes (not pointwise): fields_for_input sets it."""

    Config = AxesConfig
    pointwise: ClassVar[bool] = False

    @classmethod
    def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
        return {"axes": len(spatial)}

    def supports(self, spatial: tuple[int, ...]) -> bool:
        return len(spatial) == self.config.axes

    def forward(self, x: Tensor) -> Tensor:
        return x


@pytest.fixture
def registry():
    TokenMLP.seen.clear()
    reg = Registry.discover(entry_points=False)
    reg.register_class("token_mixer", "token_mlp", TokenMLP)
    reg.register_class("token_mixer", "even_grid", EvenGrid)
    reg.register_class("channel_mixer", "dw_ffn", DepthwiseFFN)
    return reg


def build(registry=None, **fields):
    return forwardkit.build_model({**SMALL, **fields}, registry=registry)


def mixer_inputs(model: MetaFormer, x: Tensor) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    hooks = [stage.blocks[0].token_mixer.register_forward_hook(lambda m, i, o: shapes.append(tuple(i[0].shape[1:-1])))
             for stage in model.stages]
    model(x)
    for h in hooks:
        h.remove()
    return shapes


@pytest.mark.parametrize(("fields", "x"), [
    ({"input_size": [32, 32]}, torch.randn(1, 32, 32, 3)),
    ({"input_size": [28, 20], "stem_kernel": 7, "stem_stride": 4}, torch.randn(1, 28, 20, 3)),
    ({"input_size": [15, 9], "downsample_kernel": 2}, torch.randn(1, 15, 9, 3)),
    ({"input_size": [33], "rank": 1, "in_channels": 5}, torch.randn(1, 33, 5)),
    ({"input_size": [20], "rank": 1, "vocab_size": 11}, torch.randint(0, 11, (1, 20))),
])
def test_stage_grids_are_the_grids_the_mixers_get(fields, x):
    model = build(**fields)
    assert model.stage_grids == mixer_inputs(model, x)


def test_without_an_input_size_the_grid_is_unknown(registry):
    model = build(registry, token_mixers="identity", channel_mixers="dw_ffn")
    assert model.stage_grids == [(None, None)] * 4
    assert all(s.blocks[0].channel_mixer.config.axes == 2 for s in model.stages)
    rank1 = build(registry, rank=1, channel_mixers="dw_ffn")
    assert [s.blocks[0].channel_mixer.config.axes for s in rank1.stages] == [1] * 4
    with pytest.raises(ValueError, match="needs num_tokens"):  # a fixed-size mixer cannot guess
        build(registry, token_mixers="token_mlp")
    assert TokenMLP.seen == [(None, None)]


def test_fixed_size_token_mixers_get_the_exact_token_count(registry):
    model = build(registry, input_size=[16, 12], token_mixers="token_mlp")
    assert model.stage_grids == [(8, 6), (4, 3), (2, 2), (1, 1)]
    assert [s.blocks[0].token_mixer.config.num_tokens for s in model.stages] == [48, 12, 4, 1]
    assert TokenMLP.seen == model.stage_grids
    assert model(torch.randn(2, 16, 12, 3)).shape == (2, 3)
    assert model.example_batch(2)["x"].shape == (2, 16, 12, 3)  # inputs of input_size
    # a field the spec sets wins, and then supports() refuses the grid
    with pytest.raises(ConfigError, match=r"stage 0: token mixer 'token_mlp' does not support the 8 x 6"):
        build(registry, input_size=[16, 12], token_mixers={"name": "token_mlp", "num_tokens": 5})


def test_a_grid_the_mixer_refuses_is_a_config_error_naming_stage_mixer_and_grid(registry):
    ok = build(registry, input_size=[32, 32], token_mixers=["identity", "identity", "even_grid", "identity"])
    assert ok.stage_grids[2] == (4, 4)
    # 24x24 -> stem 12x12 -> 6x6 -> 3x3 -> 2x2
    with pytest.raises(ConfigError) as err:
        build(registry, input_size=[24, 24], token_mixers=["identity", "identity", "even_grid", "identity"])
    message = str(err.value)
    assert "token_mixers.2: stage 2: token mixer 'even_grid' does not support the 3 x 3 token grid" in message
    assert "EvenGrid.supports((3, 3)) is False" in message
    with pytest.raises(ConfigError, match=r"token_mixers: stage 2: token mixer 'even_grid'"):
        build(registry, input_size=[24, 24], token_mixers="even_grid")
    build(registry, token_mixers="even_grid")  # unknown grid: supports() is not asked about None axes


def test_wrong_rank_is_a_config_error_too(registry):
    with pytest.raises(ConfigError, match=r"channel_mixers: stage 0: channel mixer 'dw_ffn' does not support"):
        build(registry, input_size=[8, 8], channel_mixers={"name": "dw_ffn", "axes": 1})


def test_input_size_is_validated():
    with pytest.raises(ConfigError, match="has 1 axes but rank is 2"):
        build(input_size=[32])
    with pytest.raises(ConfigError, match="too small: the stem would leave no tokens"):
        build(input_size=[2, 2], stem_kernel=7, stem_stride=4)


def test_input_size_and_rank_come_from_the_metadata():
    fill = MetaFormer.fields_from_metadata
    images = fill(DatasetMetadata(task="classification", input_shape=(8, 6, 3), num_classes=4))
    assert images == {"in_channels": 3, "num_classes": 4, "rank": 2, "input_size": [8, 6]}
    assert fill(DatasetMetadata(task="classification", input_shape=(32, 5), num_classes=2))["input_size"] == [32]
    assert fill(DatasetMetadata(task="classification", input_shape=(20,), num_classes=2))["input_size"] == [20]


def test_the_trainer_builds_fixed_size_mixers_for_the_datas_images(registry, tmp_path):
    experiment = {
        "data": {"name": "blobs", "image_size": 8, "image_channels": 2, "n_samples": 60, "num_classes": 3},
        "model": {"name": "metaformer", "depths": [1, 1], "dims": [8, 8], "token_mixers": "token_mlp"},
        "trainer": {"epochs": 1, "batch_size": 16, "max_steps": 2},
        "callbacks": [],
    }
    trainer = Trainer(experiment, run_dir=tmp_path / "run", registry=registry, verbose=False)
    trainer.fit()
    assert [s.blocks[0].token_mixer.config.num_tokens for s in trainer.model.stages] == [16, 4]
    recorded = json.loads((tmp_path / "run" / "experiment.json").read_text())["model"]
    assert recorded["input_size"] == [8, 8] and recorded["in_channels"] == 2


def test_input_fields_prefers_fields_for_input_and_falls_back_to_fields_for_rank():
    class Legacy(TokenMixer):
        @classmethod
        def fields_for_rank(cls, rank: int) -> dict[str, Any]:
            return {"rank": rank}

    class Migrated(Legacy):
        @classmethod
        def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
            return {"spatial": spatial}

    class Both(TokenMixer):
        fields_for_rank = Legacy.fields_for_rank

        @classmethod
        def fields_for_input(cls, spatial: tuple[int | None, ...]) -> dict[str, Any]:
            return {"grid": spatial}

    with pytest.warns(DeprecationWarning, match="define fields_for_input"):
        assert input_fields(Legacy, (4, 5)) == {"rank": 2}
    assert input_fields(Migrated, [4, None]) == {"spatial": (4, None)}
    assert input_fields(Both, (3,)) == {"grid": (3,)}
    assert input_fields(TokenMixer, (3,)) == {} and input_fields(object, (3,)) == {}


def test_build_for_input_fills_only_what_neither_the_spec_nor_the_context_sets(registry):
    spec = TokenMixerSpec.parse({"name": "token_mlp"}, registry=registry)
    assert spec.build_for_input((3, 4), dim=8).config.num_tokens == 12
    assert spec.build_for_input((3, 4), dim=8, num_tokens=7).config.num_tokens == 7
    pinned = TokenMixerSpec.parse({"name": "token_mlp", "num_tokens": 5}, registry=registry)
    assert pinned.build_for_input((3, 4), dim=8).config.num_tokens == 5
    with pytest.warns(DeprecationWarning, match="build_for_input"):
        assert TokenMixerSpec.parse("identity").build_for_rank(2, dim=4).dim == 4


PLUGIN = '''
from forwardkit.config import TokenMixerConfig
from forwardkit.interfaces import TokenMixer


class EvenGrid(TokenMixer):
    Config = TokenMixerConfig

    def supports(self, spatial):
        return super().supports(spatial) and spatial[-1] % 2 == 0

    def forward(self, x):
        return x


def forwardkit_register(registry):
    registry.add("token_mixer", "fk_even_grid", target="fk_even_grid_plugin:EvenGrid",
                 summary="accepts only grids with an even last axis (a test plugin)")
'''

EXPERIMENT = """
data: {name: blobs, image_size: 12, image_channels: 1, n_samples: 60, num_classes: 3}
model: {name: metaformer, depths: [1, 1, 1], dims: [8, 8, 8], token_mixers: [identity, identity, fk_even_grid]}
trainer: {epochs: 1, batch_size: 16, max_steps: 1}
"""


@pytest.mark.slow
def test_forwardkit_run_exits_2_without_a_traceback_when_a_mixer_refuses_its_grid(tmp_path):
    site = tmp_path / "site"
    info = site / "forwardkit_fk_even_grid-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: forwardkit-fk-even-grid\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[forwardkit]\nfk-even-grid = fk_even_grid_plugin\n")
    (site / "fk_even_grid_plugin.py").write_text(textwrap.dedent(PLUGIN))
    path = tmp_path / "experiment.yaml"
    path.write_text(EXPERIMENT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "forwardkit", "run", str(path), "--run-dir", str(tmp_path / "run")],
                          capture_output=True, text=True, env=env, timeout=300)
    # 12x12 -> stem 6x6 -> 3x3 -> 2x2: stage 1 has an odd grid, but stage 2 (fk_even_grid) gets 2x2
    assert proc.returncode == 0, proc.stderr[-3000:]
    path.write_text(EXPERIMENT.replace("[identity, identity, fk_even_grid]", "[identity, fk_even_grid, identity]"))
    proc = subprocess.run([sys.executable, "-m", "forwardkit", "run", str(path), "--run-dir", str(tmp_path / "run2")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "stage 1: token mixer 'fk_even_grid' does not support the 3 x 3 token grid" in proc.stderr
