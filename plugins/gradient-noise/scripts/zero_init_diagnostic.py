"""Why zero init + noise stays at chance in the miniature: the hidden weights after training, measured.

Trains the reproduction's ``zero_noise`` cell at lr 0.1 for one seed (the spec's experiment, same
budget), then measures on the trained 20 x 50 MLP:

* ``hidden_weight_std``: per-entry std of the 19 hidden 50 x 50 weight matrices (layers 2..20);
* ``predicted_std``: what a pure random walk of the noise gives, ``lr * sqrt(sum_t eta / (1 + t)^gamma)``
  over the run's steps (SGD adds ``-lr * noise_t`` to each entry, the data gradient being ~0);
* ``layer_gain``: ``sqrt(width / 2) * std``, the factor by which a ReLU layer with i.i.d. N(0, std^2)
  weights scales the norm of its input (He et al. 2015), and ``gain_over_depth`` = ``layer_gain^19``;
* ``logit_input_std``: the std over the test digits of the logits (mean over the 10 classes), i.e. how
  much the output depends on the input at all;
* the same gain for the Simple Init N(0, 0.1^2) net at initialisation, for comparison.

Writes ``reports/zero_init_diagnostic.json`` (quoted by the README)::

    python plugins/gradient-noise/scripts/zero_init_diagnostic.py --seed 0
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import torch
from forwardkit_gradient_noise.reproduction import SPEC

from forwardkit.engine.trainer import Trainer
from forwardkit.reproduce.spec import deep_merge

OUT = Path(__file__).resolve().parents[1] / "reports" / "zero_init_diagnostic.json"


def hidden_std(model: torch.nn.Module) -> float:
    """Per-entry std of the hidden width x width weight matrices (all but the first layer)."""
    weights = torch.cat([layer.weight.detach().flatten() for layer in model.hidden[1:]])
    return float(weights.std())


def predicted_std(lr: float, eta: float, gamma: float, steps: int) -> float:
    """``lr * sqrt(sum_{t < steps} eta / (1 + t)^gamma)``: the std of a random walk of the noise alone."""
    return lr * math.sqrt(sum(eta / (1 + t) ** gamma for t in range(steps)))


def logit_input_std(trainer: Trainer, model: torch.nn.Module) -> float:
    """Std over the test inputs of each logit, averaged over the classes."""
    split = trainer.dataset.split("test")
    x = torch.stack([split[i]["x"] for i in range(len(split))])  # (N, 28, 28, 1)
    model.eval()
    with torch.no_grad():
        logits = model(x)
    return float(logits.std(dim=0).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    _, config = SPEC.program_config("zero_noise")
    lr = 0.1
    exp = deep_merge(config["experiment"], {"learning_rule": {"lr": lr}, "trainer": {"progress": "none"}})
    exp["seed"], exp["name"] = args.seed, "zero-init-diagnostic"
    trainer = Trainer(exp, write=False, verbose=False)
    result = trainer.fit()
    noise = exp["callbacks"][0]
    std = hidden_std(result.model)
    width, depth = exp["model"]["width"], exp["model"]["depth"]
    gain = math.sqrt(width / 2) * std
    simple_gain = math.sqrt(width / 2) * 0.1
    out: dict[str, Any] = {
        "script": "plugins/gradient-noise/scripts/zero_init_diagnostic.py", "arm": "zero_noise", "lr": lr,
        "seed": args.seed, "steps": result.steps, "test_accuracy": float(result.final["test/accuracy"]),
        "hidden_weight_std": std,
        "predicted_std": predicted_std(lr, noise["eta"], noise["gamma"], result.steps),
        "layer_gain": gain, "gain_over_depth": gain ** (depth - 1),
        "simple_init_layer_gain": simple_gain, "simple_init_gain_over_depth": simple_gain ** (depth - 1),
        "logit_input_std": logit_input_std(trainer, result.model),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
