"""Step time of SGD on the paper's 20 x 50 ReLU MLP with and without annealed gradient noise (CPU).

Alternates the two loops ``--repeats`` times (so drifts of a shared machine hit both) and reports the
median ms/step of each and their ratio::

    python plugins/gradient-noise/scripts/noise_overhead.py --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from forwardkit_gradient_noise.callback import AnnealedGradientNoise
from forwardkit_gradient_noise.model import DeepReLUMLP


def time_loop(noise: bool, steps: int, batch: int) -> float:
    torch.manual_seed(0)
    model = DeepReLUMLP(depth=20, width=50, in_features=784, init="he")
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    cb = AnnealedGradientNoise(eta=0.01, seed=0)
    x, y = torch.rand(batch, 784), torch.randint(0, 10, (batch,))
    start = time.perf_counter()
    for t in range(steps):
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        if noise:
            cb.apply(model, t)
        opt.step()
    return (time.perf_counter() - start) / steps * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    time_loop(True, 20, args.batch)  # warm-up
    plain, noisy = [], []
    for _ in range(args.repeats):
        plain.append(time_loop(False, args.steps, args.batch))
        noisy.append(time_loop(True, args.steps, args.batch))
    a, b = statistics.median(plain), statistics.median(noisy)
    print(f"20x50 ReLU MLP, batch {args.batch}, {args.threads} thread(s): without noise {a:.3f} ms/step, "
          f"with noise {b:.3f} ms/step, ratio {b / a:.3f}")


if __name__ == "__main__":
    main()
