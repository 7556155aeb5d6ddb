"""The reproduction's arms as programs: each (arm, seed) runs the whole multi-stage experiment of
:mod:`forwardkit_selfie.recipe` with ``forwardkit.run_stages`` (pre-train, then fine-tune at 5 % and at 1 % of the
labels; or, for the baseline, the same fine-tuning from scratch) and returns its figures.

Figures: ``test/accuracy`` and ``val/accuracy`` at 5 % labels (``val``: the 3800 training images without labels
at that fraction, never trained on with labels), ``1pct/test/accuracy`` and ``1pct/val/accuracy`` at 1 %, and,
for the pre-trained arm, ``pretext/test_top1``: the pretext's top-1 (the right patch chosen for a hidden location)
of the pre-trained network in eval mode on the 1000 test images, with a fixed mask draw (chance 1/num_masked).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

import forwardkit
from forwardkit_selfie.loss import selfie_loss
from forwardkit_selfie.recipe import DATA, PRETRAIN_RULE, staged_experiment
from forwardkit_selfie.rule import sample_masked

PRETEXT_MASK_SEED = 12345


@torch.no_grad()
def pretext_top1(model: torch.nn.Module, images: torch.Tensor, num_masked: int, *, seed: int = PRETEXT_MASK_SEED,
                 batch: int = 250) -> float:
    """Top-1 of the pretext on ``images`` ``(N, H, W, C)`` (eval mode, one fixed uniform mask per image)."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    hits, total = 0.0, 0
    n_patches = getattr(model, "num_patches", None)
    if not isinstance(n_patches, int):
        raise TypeError(f"pretext_top1 needs a selfie_pretrainer, got {type(model).__name__}")
    for start in range(0, images.shape[0], batch):
        x = images[start:start + batch]
        masked = sample_masked(x.shape[0], n_patches, num_masked, gen)
        _, top1 = selfie_loss(model(x, masked))
        hits += float(top1) * x.shape[0]
        total += x.shape[0]
    return hits / max(total, 1)


def pretrain_finetune(config: dict[str, Any], *, seed: int, smoke: bool) -> dict[str, float]:
    """One (arm, seed): ``config = {"pretrain": bool}``; returns the figures named in the module docstring."""
    pretrain = bool(config.get("pretrain", True))
    exp = staged_experiment(pretrain=pretrain, seed=seed, smoke=smoke)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="selfie-") as tmp:
        result = forwardkit.run_stages(exp, run_dir=Path(tmp) / "run", verbose=False)
        figures: dict[str, float] = {}
        for fraction, prefix in (("5pct", ""), ("1pct", "1pct/")):
            final = result.stages[f"finetune_{fraction}"]
            figures[f"{prefix}test/accuracy"] = float(final["test/accuracy"])
            if "val/accuracy" in final:  # (no val split with --smoke)
                figures[f"{prefix}val/accuracy"] = float(final["val/accuracy"])
        if pretrain:
            weights = load_file(str(Path(tmp) / "run" / "00-pretrain" / "final" / "model.safetensors"))
            model = forwardkit.build_model({**exp["base"]["model"], "in_channels": 1})
            model.load_state_dict(weights)
            test = forwardkit.create("dataset", DATA["name"], **{k: v for k, v in DATA.items() if k != "name"},
                                     seed=0).split("test")
            images = test.x[:100] if smoke else test.x
            figures["pretext/test_top1"] = pretext_top1(model, images, int(PRETRAIN_RULE["num_masked"]))
            figures["pretext/chance"] = 1.0 / int(PRETRAIN_RULE["num_masked"])
    figures["seconds"] = time.perf_counter() - start
    return figures
