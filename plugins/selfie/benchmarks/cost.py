"""Cost benchmark (card "Performance notes"): the time of one Selfie pretext step against a supervised step with the
same patch network P, in one process, interleaved.

Candidates (batch 64 of 28 x 28 digits padded to 32 x 32, forward + backward + Adam update, each with its own model
and optimizer):

- ``pretext``: ``selfie_rule``'s step on the ``selfie_pretrainer`` (P over all 16 patches, attention pooling over
  the 12 visible ones, the 4 x 4 candidate softmax per image);
- ``supervised_patches`` (the baseline the card names: "a supervised step with the same P"): the same P over the
  same 16 patches, their mean embedding, a linear layer, cross-entropy with the labels;
- ``supervised_classifier``: the fine-tuning step, ``selfie_classifier`` (P's trunk on the whole image, two more
  blocks, a linear head);
- ``patch_net_only``: P's forward and backward over the 16 patches alone (where the time goes).

Ratios are per-round medians over ``supervised_patches`` (``forwardkit.measure.interleaved_ms`` /
``median_ratios``). Beside them: the forward multiply-accumulates of each (``count_macs``), and the candidate
softmax's share, B |T|^2 d.

    python plugins/selfie/benchmarks/cost.py [--smoke] [--out PATH] [--threads N] [--rounds N]

Writes plugins/selfie/reports/cost.json (``--smoke``: a narrow model, batch 8, 2 rounds, no file unless ``--out``).
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from forwardkit_selfie.loss import selfie_loss
from forwardkit_selfie.rule import sample_masked

import forwardkit
from forwardkit.measure import count_macs, interleaved_ms, median_ratios, medians, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
BASELINE = "supervised_patches"
NUM_MASKED = 4


def candidates(embed_dim: int, batch: int) -> tuple[dict[str, Callable[[], Any]], dict[str, Any]]:
    """One training step per candidate (each with its own model and Adam), and the forward MACs of each."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 28, 28, 1, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g)
    narrow = {} if embed_dim == 64 else {"embed_dim": embed_dim, "pool_heads": 2}
    torch.manual_seed(0)
    pre = forwardkit.build_model({"name": "selfie_pretrainer", "in_channels": 1, **narrow})
    torch.manual_seed(0)
    sup = forwardkit.build_model({"name": "selfie_pretrainer", "in_channels": 1, **narrow})  # only its P is used
    head = torch.nn.Linear(embed_dim, 10)
    torch.manual_seed(0)
    cls = forwardkit.build_model({"name": "selfie_classifier", "in_channels": 1, "num_classes": 10,
                                  **({} if embed_dim == 64 else {"embed_dim": embed_dim})})
    torch.manual_seed(0)
    lone = forwardkit.build_model({"name": "selfie_pretrainer", "in_channels": 1, **narrow})
    opts = {name: torch.optim.Adam(params, lr=1e-3) for name, params in (
        ("pretext", list(pre.parameters())), ("supervised_patches", [*sup.patch_net.parameters(),
                                                                     *head.parameters()]),
        ("supervised_classifier", list(cls.parameters())), ("patch_net_only", list(lone.patch_net.parameters())))}
    n = pre.num_patches
    for m in (pre, sup, cls, lone):
        m.train()

    def pretext() -> None:
        opts["pretext"].zero_grad(set_to_none=True)
        loss, _ = selfie_loss(pre(x, sample_masked(batch, n, NUM_MASKED, g)))
        loss.backward()
        opts["pretext"].step()

    def supervised_patches() -> None:
        opts["supervised_patches"].zero_grad(set_to_none=True)
        F.cross_entropy(head(sup.embed_patches(x).mean(dim=1)), y).backward()
        opts["supervised_patches"].step()

    def supervised_classifier() -> None:
        opts["supervised_classifier"].zero_grad(set_to_none=True)
        F.cross_entropy(cls(x), y).backward()
        opts["supervised_classifier"].step()

    def patch_net_only() -> None:
        opts["patch_net_only"].zero_grad(set_to_none=True)
        lone.embed_patches(x).sum().backward()
        opts["patch_net_only"].step()

    masked = sample_masked(batch, n, NUM_MASKED, torch.Generator().manual_seed(1))
    with torch.no_grad():
        macs = {"pretext": count_macs(lambda: pre(x, masked)),
                "supervised_patches": count_macs(lambda: head(sup.embed_patches(x).mean(dim=1))),
                "supervised_classifier": count_macs(lambda: cls(x)),
                "patch_net_only": count_macs(lambda: lone.embed_patches(x))}
    figures = {"forward_macs": macs, "macs_ratio_over_supervised_patches": {k: v / macs[BASELINE]
                                                                            for k, v in macs.items()},
               "candidate_softmax_macs": batch * NUM_MASKED * NUM_MASKED * embed_dim}
    calls = {"pretext": pretext, "supervised_patches": supervised_patches,
             "supervised_classifier": supervised_classifier, "patch_net_only": patch_net_only}
    return calls, figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="a narrow model, batch 8, 2 rounds (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the reproduction's workers use 1)")
    ap.add_argument("--rounds", type=int, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    embed_dim, batch = (16, 8) if args.smoke else (64, 64)
    rounds = args.rounds or (2 if args.smoke else 30)
    warmup = 0 if args.smoke else 3
    calls, figures = candidates(embed_dim, batch)
    times = interleaved_ms(calls, rounds=rounds, warmup=warmup)
    ratios = median_ratios(times, BASELINE)
    result: dict[str, Any] = {
        "smoke": args.smoke, "threads": args.threads, "torch": torch.__version__, "machine": platform.machine(),
        "embed_dim": embed_dim, "batch": batch, "num_masked": NUM_MASKED, "rounds": rounds, "warmup": warmup,
        "median_ms": medians(times), "time_ratio_over_supervised_patches": ratios,
        "pretext_over_supervised_classifier": ratios["pretext"] / ratios["supervised_classifier"],
        **figures,
        "card_expectation": "pretext step within ~1.5x of a supervised step with the same P",
        "within_1_5x": ratios["pretext"] <= 1.5,
        "note": "one training step (forward, backward, Adam) of a batch per call, interleaved rounds, per-round "
                "medians; ratios over supervised_patches (the same P over the same 16 patches, mean embedding, "
                "linear, cross-entropy); pretext_over_supervised_classifier is the ratio against the fine-tuning "
                "step on whole images",
    }
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    print(json.dumps({"median_ms": result["median_ms"], "ratios": ratios}, indent=1))
    return result


if __name__ == "__main__":
    main()
