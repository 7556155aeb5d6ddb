"""ScheduledDropPath: the schedule, the mask, where it applies, and the callback in a run (card tests)."""

from __future__ import annotations

import itertools

import pytest
import torch
from forwardkit_nasnet.callback import ScheduledDropPath, set_drop_path
from forwardkit_nasnet.cell import NasNetCell
from forwardkit_nasnet.droppath import cell_keep_prob, drop_path, scheduled_keep_prob
from forwardkit_nasnet.genotypes import NASNET_A_NORMAL
from forwardkit_nasnet.network import TINY_NASNET

import forwardkit


def test_keep_is_1_at_step_0_and_keep_prob_for_the_last_cell_at_the_end():
    for cell in range(5):
        assert scheduled_keep_prob(0.6, cell, 5, 0, 100) == 1.0
    assert scheduled_keep_prob(0.6, 4, 5, 100, 100) == pytest.approx(0.6)
    assert scheduled_keep_prob(0.6, 4, 5, 250, 100) == pytest.approx(0.6)  # min(1, t / T)
    assert scheduled_keep_prob(0.6, 4, 5, 50, 100) == pytest.approx(0.8)  # linear in t
    assert scheduled_keep_prob(0.6, 0, 5, 100, 100, layer_scaling=False) == pytest.approx(0.6)


def test_deeper_cells_drop_more_with_layer_scaling():
    keeps = [cell_keep_prob(0.6, c, 8) for c in range(8)]
    assert all(a > b for a, b in itertools.pairwise(keeps))
    assert keeps[0] == pytest.approx(1 - 0.4 / 8) and keeps[-1] == pytest.approx(0.6)
    assert len({cell_keep_prob(0.6, c, 8, layer_scaling=False) for c in range(8)}) == 1


def test_expected_output_is_the_input_and_masks_are_per_example():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 2, 2) + 0.5
    keep = 0.7
    n = 10_000
    out = drop_path(x.expand(n, -1, -1, -1), keep)
    assert torch.allclose(out.mean(0), x[0], rtol=0.02)
    kept = (out != 0).flatten(1)
    assert torch.equal(kept.all(1), kept.any(1))  # one mask value per example over all its C, H, W
    assert abs(kept.all(1).float().mean().item() - keep) < 0.02
    assert 0 < kept.all(1).sum() < n  # both outcomes happen: the mask is drawn per example
    assert torch.equal(drop_path(x, keep, training=False), x) and torch.equal(drop_path(x, 1.0), x)


def test_identity_paths_are_never_dropped_and_eval_is_deterministic():
    torch.manual_seed(0)
    cell = NasNetCell(NASNET_A_NORMAL, filters=4, in_channels=4, prev_channels=4)
    cell.drop_keep_prob = 1e-6  # every non-identity path is dropped (scaled kept paths are astronomically rare)
    h, prev = torch.randn(8, 4, 5, 5), torch.randn(8, 4, 5, 5)
    cell.train()
    out = cell(h, prev)
    # what survives: s1 itself in the output, s4's identity(s1), s6's identity(s0); s2, s3, s5 are zero
    f = 4
    chunks = out.split(f, dim=1)  # s1, s2, s3, s4, s5, s6
    assert torch.equal(chunks[0], prev)
    assert chunks[1].abs().sum() == 0 and chunks[2].abs().sum() == 0 and chunks[4].abs().sum() == 0
    assert torch.equal(chunks[3], prev)
    assert torch.allclose(chunks[5], cell.prep0(h))
    cell.eval()
    assert torch.equal(cell(h, prev), cell(h, prev))
    assert chunks[1].abs().sum() == 0 and cell(h, prev).split(f, dim=1)[1].abs().sum() > 0


def test_set_drop_path_reaches_every_cell_of_a_network():
    model = forwardkit.build_model({**TINY_NASNET, "stem": "imagenet", "image_size": [17, 17]})
    keeps = set_drop_path(model, 5, 10, keep_prob=0.6)
    cells = [m for m in model.modules() if isinstance(m, NasNetCell)]
    assert len(cells) == len(keeps) == model.total_cells == 4  # 2 stem cells, 1 reduction, 1 normal
    assert [keeps[c.cell_index] for c in cells] == [c.drop_keep_prob for c in cells]
    assert keeps[3] == pytest.approx(0.8) and keeps[0] > keeps[1] > keeps[2] > keeps[3]


def test_callback_schedule_over_steps_and_its_state():
    from forwardkit.interfaces.context import RunContext

    model = forwardkit.build_model(TINY_NASNET)
    ctx = RunContext(model=model, total_steps=4)
    cb = ScheduledDropPath(keep_prob=0.5)
    last = max(model.cells, key=lambda c: c.cell_index)
    seen = []
    for _ in range(4):
        cb.on_batch_start({}, ctx)
        seen.append(last.drop_keep_prob)
        cb.on_step_end({"loss": 1.0}, ctx)
    # t = 0..3 of T = 4 on the last cell (keep_c = 0.5): 1, 0.875, 0.75, 0.625
    assert seen == pytest.approx([1.0, 0.875, 0.75, 0.625])
    assert cb.state_dict() == {"step": 4, "total_steps": 4, "last_keep": 0.625}
    # a resumed callback keeps T even if the trainer's total changed (more epochs on resume)
    resumed = ScheduledDropPath(keep_prob=0.5)
    resumed.load_state_dict(cb.state_dict())
    resumed.on_batch_start({}, RunContext(model=model, total_steps=100))
    assert last.drop_keep_prob == pytest.approx(0.5) and resumed.state_dict()["total_steps"] == 4
    fixed = ScheduledDropPath(keep_prob=0.5, total_steps=8)
    fixed.on_batch_start({}, ctx)
    assert fixed.state_dict()["total_steps"] == 8
