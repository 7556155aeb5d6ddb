"""Cost benchmark (card "Performance notes"): adaptation time per test batch of NHL and its parts against Tent,
on the same backbone, in one process.

The card's claims: the Hebbian update costs one im2col of the first layer plus a (#patches x K) softmax and a
K x D accumulation, "comparable to one forward of that layer"; the entropy step back-propagates only down to
the neuro-modulator, "cheaper than full fine-tuning"; "benchmark adaptation time per batch vs Tent on the same
backbone". Per setting (the reproduction's stream, 50 digits of 28x28, and larger 64x64 images), on the card's
reference CNN with its neuro-modulator, every candidate is timed in interleaved rounds
(``forwardkit.measure.interleaved_ms``) and reported as per-round median ratios (``median_ratios``):

* ``adapt/<rule>`` over ``adapt/tent``: one ``adapt()`` call of nhl, hebbian_only, modulator_only, bn_adapt,
  source_only and tent (Adam, normalisation affines), and ``adapt/tent_all`` (Tent over every parameter: full
  fine-tuning by entropy);
* ``hebbian_update`` over ``first_layer_forward``: the soft Hebbian step of the first conv (every patch, and
  ``hebbian_update_sub64`` with 64 patches per image) against that conv's forward on the same input;
* ``modulator_step`` over ``full_entropy_step``: one entropy forward+backward+Adam step on the modulator only
  against one on every parameter.

    python plugins/neuro-hebbian/benchmarks/cost.py [--smoke] [--out PATH] [--threads N] [--rounds R]

Writes plugins/neuro-hebbian/reports/cost.json (``--smoke``: tiny sizes, 2 rounds, no file unless ``--out``).
"""

from __future__ import annotations

import argparse
import copy
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import torch
from forwardkit_neuro_hebbian.cnn import NHLCNN
from forwardkit_neuro_hebbian.config import SoftHebbianConfig
from forwardkit_neuro_hebbian.hebbian import soft_hebbian_update_
from forwardkit_neuro_hebbian.modulator import apply_neuro_modulator, modulators
from forwardkit_neuro_hebbian.rule import entropy

import forwardkit
from forwardkit.interfaces import RunContext
from forwardkit.measure import interleaved_ms, median_ratios, medians, save_report

OUT = Path(__file__).resolve().parents[1] / "reports" / "cost.json"
RULES: dict[str, dict[str, Any]] = {
    "tent": {"name": "tent", "lr": 1e-3},
    "tent_all": {"name": "tent", "lr": 1e-3, "params": "all"},
    "nhl": {"name": "nhl"},
    "hebbian_only": {"name": "hebbian_only"},
    "modulator_only": {"name": "modulator_only"},
    "bn_adapt": {"name": "bn_adapt"},
    "source_only": {"name": "source_only"},
}
SETTINGS = {"b50_28px": (50, 28), "b64_64px": (64, 64)}
SMOKE_SETTINGS = {"b4_8px": (4, 8)}


def _model(size: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return apply_neuro_modulator(NHLCNN(in_channels=1, num_classes=10, channels=[16, 32], image_size=size)).eval()


def candidates(batch_size: int, size: int) -> dict[str, Callable[[], Any]]:
    """Every timed call on one batch of ``batch_size`` ``size x size`` grey images (fresh copies of one model)."""
    g = torch.Generator().manual_seed(1)
    batch = {"x": torch.rand(batch_size, size, size, 1, generator=g)}
    base = _model(size)
    out: dict[str, Callable[[], Any]] = {}
    for name, spec in RULES.items():
        model = copy.deepcopy(base)
        ctx = RunContext(model=model, device=torch.device("cpu"))
        rule = forwardkit.create("learning_rule", spec["name"], **{k: v for k, v in spec.items() if k != "name"})
        rule.begin_episode(model, ctx)

        def adapt(rule: Any = rule, model: torch.nn.Module = model, ctx: RunContext = ctx) -> Any:
            return rule.adapt(model, batch, ctx)

        out[f"adapt/{name}"] = adapt
    conv = cast(torch.nn.Conv2d, copy.deepcopy(base).get_submodule("stages.0.conv"))
    x_cf = batch["x"].permute(0, 3, 1, 2).contiguous()

    def first_layer_forward() -> None:
        with torch.no_grad():
            conv(x_cf)

    out["first_layer_forward"] = first_layer_forward
    out["hebbian_update"] = lambda: soft_hebbian_update_(conv, x_cf, SoftHebbianConfig())
    sub = SoftHebbianConfig(patch_subsample=64)
    gen = torch.Generator().manual_seed(0)
    out["hebbian_update_sub64"] = lambda: soft_hebbian_update_(conv, x_cf, sub, gen)
    for name, only_modulator in (("modulator_step", True), ("full_entropy_step", False)):
        model = copy.deepcopy(base).train()
        params = [p for m in modulators(model) for p in m.parameters()] if only_modulator else list(model.parameters())
        model.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
        opt = torch.optim.Adam(params, lr=1e-3)

        def step(model: torch.nn.Module = model, opt: torch.optim.Optimizer = opt) -> None:
            loss = entropy(model(batch["x"])).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        out[name] = step
    return out


def bench(settings: dict[str, tuple[int, int]], *, rounds: int, warmup: int) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    for label, (batch_size, size) in settings.items():
        calls = candidates(batch_size, size)
        times = interleaved_ms(calls, rounds=rounds, warmup=warmup)
        adapt = {k: v for k, v in times.items() if k.startswith("adapt/")}
        rows[label] = {
            "batch_size": batch_size, "image_size": size, "median_ms": medians(times),
            "adapt_over_tent": {k.removeprefix("adapt/"): v for k, v in median_ratios(adapt, "adapt/tent").items()},
            "hebbian_over_first_layer_forward": median_ratios(
                {k: times[k] for k in ("first_layer_forward", "hebbian_update", "hebbian_update_sub64")},
                "first_layer_forward"),
            "modulator_over_full_entropy_step": median_ratios(
                {k: times[k] for k in ("full_entropy_step", "modulator_step")}, "full_entropy_step"),
        }
        r = rows[label]
        print(f"{label}: nhl/tent {r['adapt_over_tent']['nhl']:.2f}, hebbian/conv1 "
              f"{r['hebbian_over_first_layer_forward']['hebbian_update']:.2f}, modulator/full "
              f"{r['modulator_over_full_entropy_step']['modulator_step']:.2f}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and 2 rounds (seconds)")
    ap.add_argument("--out", type=Path, default=None, help=f"where to write the JSON (default {OUT})")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = SMOKE_SETTINGS if args.smoke else SETTINGS
    rounds = args.rounds or (2 if args.smoke else 30)
    warmup = 0 if args.smoke else 3
    result = {
        "threads": args.threads, "torch": torch.__version__, "machine": platform.machine(), "smoke": args.smoke,
        "rounds": rounds, "warmup": warmup, "backbone": "nhl_cnn channels [16, 32] + neuro_modulator (affine)",
        "rows": bench(settings, rounds=rounds, warmup=warmup),
        "note": "ratios are medians over rounds of a candidate's time over the baseline's in the same round; "
                "adapt/<rule>: one adapt() call per test batch (NHL and its ablations include the prediction after "
                "the update; Tent returns the forward before its update); tent_all: Tent over every parameter",
    }
    out = args.out or (None if args.smoke else OUT)
    if out is not None:
        save_report(result, out)
    return result


if __name__ == "__main__":
    main()
