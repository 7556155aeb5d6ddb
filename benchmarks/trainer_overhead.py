"""Trainer overhead: forwardkit's loop against a hand-written PyTorch loop, in one process.

Both train the same model (the builtin metaformer on digits-sized images from the builtin ``blobs``
generator) on the same batches, in the same order, for the
same number of steps, with the same optimizer. The hand-written loop is what a researcher would write:
index the tensors, forward, cross-entropy, backward, AdamW step, read the loss; and, as forwardkit's
trainer does when training ends, one pass over the validation split. The runs alternate
(hand, forwardkit, hand, ...) so that drift of the machine hits both; the ratio of median wall times is
reported. Bar (issue "[engine]"): forwardkit / hand <= 1.05.

    python benchmarks/trainer_overhead.py            # full measurement (~1 minute)
    python benchmarks/trainer_overhead.py --smoke    # seconds: proves the script runs
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

import forwardkit as fk
from forwardkit.engine.data import epoch_batches, gather
from forwardkit.engine.trainer import Trainer

DEFAULT = {
    "name": "overhead",
    "data": {"name": "blobs", "n_samples": 2400, "image_size": 8, "image_channels": 1, "num_classes": 10},
    "model": {"name": "metaformer", "depths": [1, 1, 2, 1], "dims": [16, 32, 48, 64], "stem_stride": 1,
              "token_mixers": ["identity", "identity", {"name": "attention", "head_dim": 16},
                               {"name": "attention", "head_dim": 16}]},
    "learning_rule": {"name": "backprop", "optimizer": "adamw", "lr": 1e-3},
    "trainer": {"batch_size": 64, "progress": "none", "eval_every": 0, "test_at_end": False,
                "checkpoint_every": 0, "log_every": 50, "plots": False},
    "seed": 0,
}


def forwardkit_run(exp: dict[str, Any], steps: int) -> float:
    exp = {**exp, "trainer": {**exp["trainer"], "max_steps": steps}}
    trainer = Trainer(exp, write=False, verbose=False)
    trainer.build()
    start = time.perf_counter()
    trainer.fit()
    return time.perf_counter() - start


def hand_run(exp: dict[str, Any], steps: int) -> float:
    """The same training, written by hand."""
    trainer = Trainer(exp, write=False, verbose=False)
    trainer.build()  # same dataset, same initial model (seeded) - only the loop differs
    model, split = trainer.model, trainer.train_set
    x, y = split.tensors["x"], split.tensors["y"]
    bs = exp["trainer"]["batch_size"]
    opt = torch.optim.AdamW(model.parameters(), lr=exp["learning_rule"]["lr"], weight_decay=0.0)
    start = time.perf_counter()
    model.train()
    done, epoch = 0, 0
    while done < steps:
        for idx in epoch_batches(len(x), batch_size=bs, seed=exp["seed"], epoch=epoch):
            batch = gather({"x": x, "y": y}, idx)
            loss = torch.nn.functional.cross_entropy(model(batch["x"]), batch["y"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            float(loss.detach())
            done += 1
            if done == steps:
                break
        epoch += 1
    model.eval()  # forwardkit evaluates on 'val' when training ends; so does this loop
    val = trainer.dataset.split("val")
    correct = 0
    with torch.no_grad():
        for i in range(0, len(val), bs):
            batch = gather(val.tensors, list(range(i, min(i + bs, len(val)))))
            correct += int((model(batch["x"]).argmax(-1) == batch["y"]).sum())
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="a few steps, one repeat")
    parser.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    args = parser.parse_args(argv)
    steps, repeats = (5, 1) if args.smoke else (args.steps, args.repeats)
    torch.manual_seed(0)
    fk.get_registry()
    hand_run(DEFAULT, 3)  # warm-up: lazy imports and first-call allocations
    forwardkit_run(DEFAULT, 3)
    hands, fks = [], []
    for _ in range(repeats):
        hands.append(hand_run(DEFAULT, steps))
        fks.append(forwardkit_run(DEFAULT, steps))
    result = {
        "steps": steps, "repeats": repeats, "threads": torch.get_num_threads(),
        "hand_s": hands, "forwardkit_s": fks,
        "hand_median_s": statistics.median(hands), "forwardkit_median_s": statistics.median(fks),
    }
    result["ratio"] = result["forwardkit_median_s"] / result["hand_median_s"]
    print(f"hand-written loop: {result['hand_median_s'] * 1e3 / steps:.2f} ms/step   "
          f"forwardkit: {result['forwardkit_median_s'] * 1e3 / steps:.2f} ms/step   "
          f"ratio {result['ratio']:.3f} (bar: <= 1.05)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
