"""Setup B of the miniature reproduction: super-network ranking and search on scikit-learn's digits.

One call per seed (a program arm of the reproduction spec), everything trained through the forwardkit trainer:

1. two super-networks of the same search space trained for ``supernet_epochs`` with the
   ``multi_arch_sampling`` callback: ``examples_per_arch`` samples per sub-network (multi-architectural), and
   ``single_arch`` (one sub-network per step);
2. ``rank_subnets`` sub-networks drawn uniformly, each trained stand-alone from scratch for
   ``standalone_epochs``; Kendall tau between their stand-alone test accuracy and their accuracy inside each
   super-network (validation split) -> ``tau_multi``, ``tau_single``;
3. evolutionary search on the multi-arch super-network (validation split) at ``budget_fraction`` of the
   largest sub-network's MACs; the winner and ``random_subnets`` random sub-networks of the same MAC window are
   retrained from scratch for ``standalone_epochs`` -> ``searched_accuracy``, ``random_accuracy`` and their
   difference ``search_gain`` (the pass bar reads it).
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch

import forwardkit
from forwardkit.reproduce.spec import deep_merge
from forwardkit_vit_resnas.arch import Arch
from forwardkit_vit_resnas.config import EvolutionarySearchConfig
from forwardkit_vit_resnas.ranking import ranking_quality, sample_archs
from forwardkit_vit_resnas.search import mac_counter, search_supernet, supernet_scorer
from forwardkit_vit_resnas.supernet import ViTResSuperNet

#: setup B's search space on 8x8 digits (patch 1: 64 -> 16 -> 4 tokens), tiny widths, 3 blocks per stage
DIGITS_SUPERNET: dict[str, Any] = {
    "name": "vit_res_supernet", "img_size": 8, "patch": 1, "in_channels": 1, "num_classes": 10,
    "depths": [3, 3, 3],
    "embed_choices": [[32, 28, 24, 20], [64, 56, 48, 40], [128, 112, 96, 80]],
    "head_dims": [8, 8, 16],
    "attn_choices": [[32, 24, 16], [64, 48, 32], [128, 96, 64]],
    "mlp_choices": [[96, 80, 64, 48], [192, 160, 128, 96], [384, 320, 256, 192]],
    "drop_path": 0.1,
}

DEFAULTS: dict[str, Any] = {
    "data": {"name": "digits", "val_fraction": 0.15, "test_fraction": 0.15, "seed": 0},
    "supernet": DIGITS_SUPERNET,
    "learning_rule": {"name": "backprop", "optimizer": "adamw", "lr": 1e-3, "weight_decay": 0.05,
                      "schedule": "cosine", "warmup_epochs": 1},
    "batch_size": 128,
    "supernet_epochs": 20,
    "standalone_epochs": 15,
    "examples_per_arch": 16,
    "warmup_epochs": 3,
    "rank_subnets": 6,
    "random_subnets": 3,
    "search": {"budget_fraction": 0.5, "population": 50, "iterations": 5, "parents": 15, "mutants": 15,
               "crossovers": 15, "mutate_prob": 0.3},
    "max_steps": None,
}


def _experiment(cfg: dict[str, Any], model: dict[str, Any], epochs: int, seed: int,
                callbacks: list[dict[str, Any]] | None = None, name: str = "setup-b",
                test_at_end: bool = True) -> dict[str, Any]:
    trainer: dict[str, Any] = {"epochs": epochs, "batch_size": cfg["batch_size"], "eval_every": 0,
                               "checkpoint_every": 0, "log_every": 1000, "progress": "none", "plots": False,
                               "test_at_end": test_at_end}
    if cfg.get("max_steps"):
        trainer["max_steps"] = cfg["max_steps"]
    return {"name": name, "seed": seed, "data": copy.deepcopy(cfg["data"]), "model": model,
            "learning_rule": copy.deepcopy(cfg["learning_rule"]), "callbacks": callbacks or [], "trainer": trainer}


def train_supernet(cfg: dict[str, Any], seed: int, *, single_arch: bool) -> ViTResSuperNet:
    """A super-network trained with multi-architectural (or single-architecture) sampling."""
    sampling = {"name": "multi_arch_sampling", "examples_per_arch": cfg["examples_per_arch"],
                "warmup_epochs": cfg["warmup_epochs"], "single_arch": single_arch}
    exp = _experiment(cfg, copy.deepcopy(cfg["supernet"]), cfg["supernet_epochs"], seed, [sampling],
                      name=f"setup-b-supernet-{'single' if single_arch else 'multi'}", test_at_end=False)
    model = forwardkit.run(exp, write=False, verbose=False).model
    assert isinstance(model, ViTResSuperNet)
    return model.eval()


def train_standalone(cfg: dict[str, Any], supernet: ViTResSuperNet, arch: Arch, seed: int) -> float:
    """Test accuracy of sub-network ``arch`` as a stand-alone ``vit_res`` trained from scratch."""
    fields = supernet.subnet_config(arch).model_dump(mode="json")
    exp = _experiment(cfg, {"name": "vit_res", **fields}, cfg["standalone_epochs"], seed, name="setup-b-subnet")
    return float(forwardkit.run(exp, write=False, verbose=False).final["test/accuracy"])


def _split(cfg: dict[str, Any], name: str) -> tuple[torch.Tensor, torch.Tensor]:
    dataset = forwardkit.create("dataset", cfg["data"]["name"], **{k: v for k, v in cfg["data"].items()
                                                                  if k != "name"})
    part = dataset.split(name)
    return part.x, part.y


def setup_b(config: dict[str, Any], *, seed: int, smoke: bool) -> dict[str, float]:
    """The figures of one seed of setup B (module docstring)."""
    cfg = deep_merge(DEFAULTS, config)
    start = time.perf_counter()
    xv, yv = _split(cfg, "val")
    multi = train_supernet(cfg, seed, single_arch=False)
    single = train_supernet(cfg, seed, single_arch=True)
    supernet_seconds = time.perf_counter() - start

    rank = sample_archs(multi.space, cfg["rank_subnets"], seed)
    alone = [train_standalone(cfg, multi, a, seed) for a in rank]
    tau_multi = ranking_quality([supernet_scorer(multi, xv, yv)(a) for a in rank], alone)
    tau_single = ranking_quality([supernet_scorer(single, xv, yv)(a) for a in rank], alone)

    search_cfg = EvolutionarySearchConfig(seed=seed, **cfg["search"])
    result = search_supernet(multi, xv, yv, search_cfg)
    macs = mac_counter(multi)
    rng = np.random.default_rng(10_000 + seed)
    randoms: list[Arch] = []
    while len(randoms) < cfg["random_subnets"]:
        arch = multi.space.random_in_window(rng, macs, result.low, result.high, search_cfg.max_tries)
        if arch != result.best.arch and arch not in randoms:
            randoms.append(arch)
    searched = train_standalone(cfg, multi, result.best.arch, seed)
    random_acc = [train_standalone(cfg, multi, a, seed) for a in randoms]
    largest = macs(multi.largest_arch())
    multi_val = supernet_scorer(multi, xv, yv)(multi.largest_arch())
    single_val = supernet_scorer(single, xv, yv)(single.largest_arch())
    return {
        "tau_multi": tau_multi["kendall_tau"], "tau_single": tau_single["kendall_tau"],
        "tau_gain": tau_multi["kendall_tau"] - tau_single["kendall_tau"],
        "rho_multi": tau_multi["spearman_rho"], "rho_single": tau_single["spearman_rho"],
        "searched_accuracy": searched, "random_accuracy": float(np.mean(random_acc)),
        "search_gain": searched - float(np.mean(random_acc)),
        "searched_supernet_accuracy": result.best.score, "searched_macs": result.best.macs,
        "random_macs": float(np.mean([macs(a) for a in randoms])), "budget_macs": result.high,
        "largest_macs": largest, "standalone_mean_accuracy": float(np.mean(alone)),
        "supernet_multi_val_accuracy": multi_val, "supernet_single_val_accuracy": single_val,
        "search_seconds": result.seconds, "search_evaluated": float(len(result.history)),
        "supernet_seconds": supernet_seconds, "seconds": time.perf_counter() - start,
    }
