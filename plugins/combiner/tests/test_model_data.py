"""combiner-ar-tiny, the quantised raster digits and the bits/dim task."""

from __future__ import annotations

import math

import pytest
import torch
from forwardkit_combiner.data import RasterDigits, quantize_images
from forwardkit_combiner.model import CombinerAR
from forwardkit_combiner.reproduction import SPEC
from forwardkit_combiner.task import AutoregressiveNLL, bits_per_dim

from forwardkit.compose import build_model


def test_quantisation_average_pools_then_floors_to_levels():
    img = torch.tensor([[0, 255, 64, 64], [255, 0, 64, 64]], dtype=torch.float32)[None, :, :, None]
    assert quantize_images(img, scale=255.0, pool=2, levels=8).tolist() == [[[4, 2]]]
    assert quantize_images(img, scale=255.0, pool=1, levels=2).tolist() == [[[0, 1, 0, 0], [1, 0, 0, 0]]]


def test_raster_digits_match_the_card_setup():
    """mnist5k: 4000 train / 1000 test digits, 14 x 14 grids of 8 levels; y is the grid itself."""
    data = RasterDigits()
    meta = data.metadata
    assert meta.task == "autoregressive_nll" and meta.input_shape == (14, 14) and meta.num_classes == 8
    assert meta.sizes == {"train": 4000, "val": 0, "test": 1000}
    train = data.split("train")
    assert train.x.dtype == torch.int64 and int(train.x.min()) == 0 and int(train.x.max()) == 7
    assert torch.equal(train.x, train.y) and set(train[0]) == {"x", "y", "label"}
    small = RasterDigits(source="digits", pool=1, levels=4).metadata
    assert small.input_shape == (8, 8) and small.num_classes == 4


def test_bits_per_dim_is_the_nll_in_base_two():
    task = AutoregressiveNLL()
    y = torch.randint(0, 8, (3, 4, 4))
    uniform = torch.zeros(3, 4, 4, 8)
    assert float(bits_per_dim(uniform, y)) == pytest.approx(3.0)
    metrics = task.metrics(uniform, {"y": y})
    total, n = metrics["bits_per_dim"]
    assert n == 48 and total / n == pytest.approx(3.0) and metrics["loss"][0] / n == pytest.approx(math.log(8))
    assert float(task.loss(uniform, {"y": y})) == pytest.approx(math.log(8))


@pytest.mark.parametrize("mixer", [{"name": "combiner_attention", "variant": "fixed"},
                                   {"name": "combiner_attention", "variant": "logsparse"},
                                   {"name": "sparse_axial_attention"}])
@pytest.mark.parametrize("grid", [[4, 4], [12]])
def test_the_logits_of_token_t_see_only_the_tokens_before_t(mixer, grid):
    """Teacher forcing: changing tokens t.. (raster order) leaves the logits of positions <= t unchanged and the
    logits of t + 1 changed: logit t predicts token t from tokens < t."""
    torch.manual_seed(0)
    model = CombinerAR(grid=grid, dim=16, num_heads=2, token_mixer=mixer).eval()
    x = model.example_batch(2, generator=torch.Generator().manual_seed(0))["x"]
    length = math.prod(grid)
    with torch.no_grad():
        out = model(x).reshape(2, length, -1)
        for t in (0, 5, length - 2):
            x2 = x.clone().reshape(2, length)
            x2[:, t:] = (x2[:, t:] + 1) % model.config.vocab_size
            out2 = model(x2.reshape(x.shape)).reshape(2, length, -1)
            assert torch.allclose(out[:, : t + 1], out2[:, : t + 1], atol=1e-6)
            assert not torch.allclose(out[:, t + 1], out2[:, t + 1])


def test_the_model_refuses_a_non_causal_mixer():
    with pytest.raises(ValueError, match="must be causal"):
        CombinerAR(grid=[4, 4], token_mixer={"name": "combiner_attention", "causal": False})


def _count(d: int, v: int, length: int, depth: int) -> int:
    """Embedding (V + start), positions, per block 2 LN + qkv + proj (no biases) + MLP(4d), final LN, head."""
    block = 4 * d + 4 * d * d + (d * 4 * d + 4 * d) + (4 * d * d + d)
    return (v + 1) * d + length * d + depth * block + 2 * d + d * v + v


def test_every_arm_of_the_reproduction_has_the_same_parameters():
    """The arms differ only in how the heads are mixed: Combiner-Fixed/-Axial, their sparse bases and full attention
    hold the same weights (combiner-ar-tiny: 113,224 parameters at d = 64, V = 8, 14 x 14, 2 blocks)."""
    counts = {}
    for arm in SPEC.arms:
        spec = {**SPEC.experiment(arm, 0)["model"], "grid": [14, 14], "vocab_size": 8}
        counts[arm] = sum(p.numel() for p in build_model(spec).parameters())
    assert {counts[a] for a in counts if "1layer" not in a} == {_count(64, 8, 196, 2)} == {113_224}
    assert {counts[a] for a in counts if "1layer" in a} == {_count(64, 8, 196, 1)}
