"""CPU inference throughput of the small ViT with and without EViT token reorganisation (the issue's speed bar).

Same process, same weights: the plain ViT (keep_rate=1) and the EViT model (card keep rate 0.7 at the card's
drop locations) are timed interleaved on one batch of 64 channels-last images in ``torch.inference_mode``; the
median of ``--repeats`` timings gives images/s. MACs are the analytic count (checked against torch's FLOP counter).
The accuracy difference comes from the reproduction's results.json when present.

    OMP_NUM_THREADS=1 python plugins/evit/benchmarks/speed.py            # writes plugins/evit/reports/speed.json
    python plugins/evit/benchmarks/speed.py --smoke --out /tmp/speed.json # seconds, for the tests
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path
from typing import Any

import torch
from forwardkit_evit.cost import throughput
from forwardkit_evit.macs import analytic_macs, measured_macs
from forwardkit_evit.model import EViTViT

HERE = Path(__file__).resolve().parent
REPORTS = HERE.parent / "reports"
BAR = 1.3
#: the card's reference config evit-vit-mini (the model the reproduction trains), and a narrower variant
MODELS: dict[str, dict[str, Any]] = {
    "evit-vit-mini": {"dim": 96, "depth": 6, "num_heads": 3, "patch_size": 4, "image_size": 28, "drop_loc": [1, 3, 4]},
    "narrow": {"dim": 64, "depth": 6, "num_heads": 2, "patch_size": 4, "image_size": 28, "drop_loc": [1, 3, 4]},
}


def accuracy_difference(results: Path) -> dict[str, Any] | None:
    """EViT minus ViT test accuracy (means over seeds) from a full reproduction's results.json."""
    if not results.exists():
        return None
    data = json.loads(results.read_text())
    if data.get("smoke"):
        return None
    metric = data["metric"]
    means = {arm: v["figures"][metric]["mean"] for arm, v in data["arms"].items() if metric in v.get("figures", {})}
    out: dict[str, Any] = {"metric": metric, "date": data.get("date"), "seeds": data.get("seeds")}
    out.update({f"{arm}_mean": m for arm, m in means.items()})
    if "vit" in means and "evit" in means:
        out["evit_minus_vit"] = means["evit"] - means["vit"]
    return out


def run(*, batch: int, repeats: int, keep_rate: float, threads: int, names: list[str]) -> dict[str, Any]:
    torch.set_num_threads(threads)
    out: dict[str, Any] = {"batch": batch, "repeats": repeats, "keep_rate": keep_rate, "threads": threads,
                           "torch": torch.__version__, "machine": platform.machine(), "bar": BAR, "models": {}}
    for name in names:
        spec = MODELS[name]
        torch.manual_seed(0)
        plain = EViTViT(**{**spec, "keep_rate": 1.0}).eval()
        evit = EViTViT(**{**spec, "keep_rate": keep_rate}).eval()
        evit.load_state_dict(plain.state_dict())
        x = torch.randn(batch, spec["image_size"], spec["image_size"], 1, generator=torch.Generator().manual_seed(0))
        speed = throughput({"vit": plain, "evit": evit}, x, repeats=repeats, warmup=3)
        entry = {
            "config": spec,
            "token_counts": evit.token_counts(),
            "macs_vit": analytic_macs(plain),
            "macs_evit": analytic_macs(evit),
            "macs_measured_evit": measured_macs(evit),
            "images_per_s_vit": speed["vit"],
            "images_per_s_evit": speed["evit"],
        }
        entry["macs_ratio"] = entry["macs_evit"] / entry["macs_vit"]
        entry["speedup"] = speed["evit"] / speed["vit"]
        entry["bar_met"] = entry["speedup"] >= BAR
        out["models"][name] = entry
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--keep-rate", type=float, default=0.7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPORTS / "speed.json")
    parser.add_argument("--results", type=Path, default=REPORTS / "results.json")
    parser.add_argument("--smoke", action="store_true", help="tiny batch and repeats (checks the script runs)")
    args = parser.parse_args(argv)
    batch, repeats = (8, 2) if args.smoke else (args.batch, args.repeats)
    names = ["evit-vit-mini"] if args.smoke else list(MODELS)
    result = run(batch=batch, repeats=repeats, keep_rate=args.keep_rate, threads=args.threads, names=names)
    result["smoke"] = args.smoke
    result["accuracy"] = accuracy_difference(args.results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for name, e in result["models"].items():
        print(f"{name}: ViT {e['images_per_s_vit']:.0f} img/s, EViT {e['images_per_s_evit']:.0f} img/s, "
              f"speed-up {e['speedup']:.2f}x (bar {BAR}x: {'met' if e['bar_met'] else 'NOT met'}), "
              f"MACs {e['macs_vit'] / 1e6:.1f}M -> {e['macs_evit'] / 1e6:.1f}M ({e['macs_ratio']:.2f})")
    if result["accuracy"]:
        print(f"accuracy: {result['accuracy']}")
    return result


if __name__ == "__main__":
    main()
