"""Cost benchmark (card "Performance notes"): the step time of ``look_loss`` against ``ce_baseline`` at bank sizes
N = 1e3, 1e4, 1e5 on the CPU, in one process, interleaved.

1. ``steps`` — one training step (forward, loss, backward, Adam update, for LOOK also the bank update) of the
   reference ``look_cnn`` on a batch of 128 MNIST-sized images, for CE and for LOOK with a filled bank of N slots
   (k = 20, tau = 0.1, d = 128, chunk_size 4096), timed in interleaved rounds
   (``forwardkit.measure.interleaved_ms``); ratios are per-round medians over the CE step.
2. ``loss_only`` — the LOOK loss alone (neighbour search + loss + backward to z) on random unit embeddings, chunked
   (4096) and unchunked (the paper-literal reference), at each N: where the overhead comes from, and that the two
   agree (max absolute difference of the losses).

    python plugins/look-pretraining/benchmarks/cost.py [--smoke] [--out PATH] [--threads N]

Writes plugins/look-pretraining/reports/cost.json (``--smoke``: a tiny model, small banks, no file unless ``--out``).
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from forwardkit_look_pretraining.knn import look_loss, look_loss_reference
from forwardkit_look_pretraining.rule import CEBaseline, LookRule

import forwardkit
from forwardkit.interfaces import RunContext
from forwardkit.measure import interleaved_ms, median_ratios, medians, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
SIZES = (1_000, 10_000, 100_000)
SMOKE_SIZES = (200, 2_000)


def _batch(batch: int, n: int, side: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.rand(batch, side, side, 1, generator=g), "y": torch.randint(0, 2, (batch,), generator=g),
            "idx": torch.randperm(n, generator=g)[:batch]}


def step_candidates(sizes: tuple[int, ...], *, model: dict[str, Any], batch: int, side: int) -> dict[str, Any]:
    """One training step per candidate, each with its own model, rule and (for LOOK) a filled bank of N slots."""
    calls: dict[str, Any] = {}

    def make(rule: Any, n: int) -> Any:
        torch.manual_seed(0)
        net = forwardkit.build_model({**model, "num_classes": 2})
        ctx = RunContext(model=net, loss_fn=lambda out, b: F.cross_entropy(out, b["y"]))
        rule.setup(net, ctx)
        if isinstance(rule, LookRule):
            assert rule.bank is not None
            rule.bank.grow(n)
            g = torch.Generator().manual_seed(1)
            rule.bank.vectors = F.normalize(torch.randn(n, rule.bank.dim, generator=g), dim=1)
            rule.bank.labels = torch.randint(0, 2, (n,), generator=g)
            rule.bank.filled = torch.ones(n, dtype=torch.bool)
        counter = [0]

        def step() -> None:
            counter[0] += 1
            rule.step(_batch(batch, n, side, counter[0]), ctx)

        return step

    calls["ce"] = make(CEBaseline(lr=1e-3), max(sizes))
    for n in sizes:
        calls[f"look_N{n}"] = make(LookRule(k=20, tau=0.1, lr=1e-3, bank_size=n), n)
    return calls


def loss_candidates(sizes: tuple[int, ...], *, batch: int, dim: int = 128) -> tuple[dict[str, Any], dict[str, float]]:
    calls: dict[str, Any] = {}
    agree: dict[str, float] = {}
    for n in sizes:
        g = torch.Generator().manual_seed(n)
        bank = F.normalize(torch.randn(n, dim, generator=g), dim=1)
        labels = torch.randint(0, 2, (n,), generator=g)
        z0 = F.normalize(torch.randn(batch, dim, generator=g), dim=1)
        y = torch.randint(0, 2, (batch,), generator=g)
        idx = torch.randperm(n, generator=g)[:batch]

        def chunked(bank: torch.Tensor = bank, labels: torch.Tensor = labels, z0: torch.Tensor = z0,
                    y: torch.Tensor = y, idx: torch.Tensor = idx) -> torch.Tensor:
            z = z0.clone().requires_grad_(True)
            loss = look_loss(z, bank, labels, y, k=20, tau=0.1, idx=idx, chunk_size=4096)
            loss.backward()
            return loss.detach()

        def reference(bank: torch.Tensor = bank, labels: torch.Tensor = labels, z0: torch.Tensor = z0,
                      y: torch.Tensor = y, idx: torch.Tensor = idx) -> torch.Tensor:
            z = z0.clone().requires_grad_(True)
            loss = look_loss_reference(z, bank, labels, y, k=20, tau=0.1, idx=idx)
            loss.backward()
            return loss.detach()

        calls[f"chunked_N{n}"], calls[f"reference_N{n}"] = chunked, reference
        agree[str(n)] = float((chunked() - reference()).abs())
    return calls, agree


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=9)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    sizes = SMOKE_SIZES if args.smoke else SIZES
    model = {"name": "look_cnn", "widths": [4, 8, 8, 8], "image_size": 28} if args.smoke else {"name": "look_cnn"}
    rounds = 2 if args.smoke else args.rounds
    steps = interleaved_ms(step_candidates(sizes, model=model, batch=128, side=28), rounds=rounds, warmup=1)
    loss_calls, agree = loss_candidates(sizes, batch=128)
    losses = interleaved_ms(loss_calls, rounds=rounds, warmup=1)
    ratios = median_ratios(steps, "ce")
    result: dict[str, Any] = {
        "smoke": args.smoke, "threads": args.threads, "torch": torch.__version__, "python": platform.python_version(),
        "batch": 128, "k": 20, "embed_dim": 128, "chunk_size": 4096, "sizes": list(sizes), "rounds": rounds,
        "steps": {"median_ms": medians(steps), "time_ratio_over_ce": ratios,
                  "ms": {k: [round(v, 3) for v in vs] for k, vs in steps.items()}},
        "loss_only": {"median_ms": medians(losses),
                      "chunked_over_reference": {str(n): median_ratios(losses, f"reference_N{n}")[f"chunked_N{n}"]
                                                 for n in sizes},
                      "max_abs_difference": agree},
        "look_over_ce": {str(n): ratios[f"look_N{n}"] for n in sizes},
    }
    out = args.out if args.out is not None else (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    print({k: round(v, 3) for k, v in result["look_over_ce"].items()})
    return result


if __name__ == "__main__":
    main()
