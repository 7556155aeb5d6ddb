"""The function-fitting suite: seven synthetic targets on [-1, 1]^d (the card's choice of tasks)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from forwardkit.data import InMemoryDataset, TensorSplit
from forwardkit_s_kan.config import KANFunctionSuiteConfig


def _j0(x: np.ndarray) -> np.ndarray:
    from scipy.special import j0

    return j0(20 * x[:, 0])


#: task number -> (name, input dimension d, f: (n, d) -> (n,))
TASKS: dict[int, tuple[str, int, Callable[[np.ndarray], np.ndarray]]] = {
    1: ("bessel_j0_20x", 1, _j0),
    2: ("exp_sin_pi_x_plus_y2", 2, lambda x: np.exp(np.sin(np.pi * x[:, 0]) + x[:, 1] ** 2)),
    3: ("xy", 2, lambda x: x[:, 0] * x[:, 1]),
    4: ("exp_half_sin_sum_4d", 4, lambda x: np.exp(0.5 * (np.sin(np.pi * (x[:, 0] ** 2 + x[:, 1] ** 2))
                                                           + np.sin(np.pi * (x[:, 2] ** 2 + x[:, 3] ** 2))))),
    5: ("abs_kink_jump", 1, lambda x: np.abs(x[:, 0]) + 0.5 * (x[:, 0] > 0.3)),
    6: ("sin4pix_cos2piy", 2, lambda x: np.sin(4 * math.pi * x[:, 0]) * np.cos(2 * math.pi * x[:, 1])),
    7: ("runge_2d", 2, lambda x: 1.0 / (1.0 + 25.0 * (x[:, 0] ** 2 + x[:, 1] ** 2))),
}


def make_task(task: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points ``x ~ U[-1, 1]^d`` and targets ``f(x)`` of ``task``: ``(n, d)``, ``(n,)`` float64."""
    _, d, f = TASKS[task]
    x = rng.uniform(-1.0, 1.0, size=(n, d))
    return x, f(x)


class KANFunctionSuite(InMemoryDataset):
    """One task of the suite as a regression dataset: items ``{"x": (d,), "y": (1,)}`` float32. The three
    splits are drawn independently from the config's seed; ``noise_std`` adds Gaussian noise to the train and
    val targets only (test stays clean). ``metadata.extra`` holds the task name and the test target's std."""

    Config = KANFunctionSuiteConfig
    config: KANFunctionSuiteConfig

    def build(self) -> tuple[Mapping[str, TensorSplit], dict[str, Any]]:
        c = self.config
        rng = np.random.default_rng([c.seed, c.task])
        splits: dict[str, TensorSplit] = {}
        std = 1.0
        for name, n in (("train", c.n_train), ("val", c.n_val), ("test", c.n_test)):
            x, y = make_task(c.task, n, rng)
            if name != "test" and c.noise_std > 0:
                y = y + rng.normal(0.0, c.noise_std, size=y.shape)
            if name == "test":
                std = float(np.std(y))
            splits[name] = TensorSplit(torch.tensor(x, dtype=torch.float32),
                                       torch.tensor(y, dtype=torch.float32).unsqueeze(-1))
        return splits, {"task": "regression", "extra": {"name": TASKS[c.task][0], "test_std": std}}
