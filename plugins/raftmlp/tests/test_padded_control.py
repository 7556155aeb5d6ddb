"""The padded-resolution control runs (smoke) and its shift keeps the canvas and the background."""

from __future__ import annotations

from pathlib import Path

import torch

from forwardkit.testing import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "padded_control.py"


def _module():
    return load_script(SCRIPT)


def test_shift_moves_the_digit_inside_its_canvas() -> None:
    mod = _module()
    x = torch.zeros(1, 6, 6, 1)
    x[0, 1, 1] = 1.0
    y = mod.shifted(x, 2)
    assert y.shape == x.shape and y[0, 3, 3, 0] == 1.0 and y.sum() == 1.0


def test_control_smoke(tmp_path: Path) -> None:
    out = _module().main(["--smoke", "--seeds", "0", "--out", str(tmp_path / "c.json")])
    for arm in ("raft_r2", "pooling"):
        mean = out["arms"][arm]["mean"]
        assert set(mean) == {"native", "padded_32", "shifted_2px", "padded_drop", "shifted_drop"}
        assert 0.0 <= mean["padded_32"] <= 1.0
