"""Growth during training (paper Sec. 3.1), the ``self_expansion`` callback.

At an epoch end (every ``check_every`` epochs, not during the ``cooldown`` epochs after an expansion) the
callback scores the current model and every candidate expansion on a fixed subset of the training data
(the first ``subset_size`` samples the run trains on), and applies the decision rule of Sec. 3.1::

    eta_c = score(current)
    eta_l, b_l = max_b score(current + identity layer in block b)       # regularised: eta * exp(-lambda dp^2)
    eta_i, b_i = max_b score(current + C channels in block b)
    if eta_l > eta_i and eta_l / eta_c > tau:    add an identity layer to block b_l
    elif eta_i > eta_l and eta_i / eta_c > tau:  widen block b_i by C
    else:                                        no change

(:func:`decide`). The expansion is applied to the live model (the same noise as the scored candidate), the
callback returns True and the learning rule rebuilds its optimizer: the builtin ``backprop`` with
``on_model_change: keep_state`` takes in the new parameters and keeps the moments of the old ones (widened
tensors grow in place, their new entries start at zero); its schedule counts updates, so it goes on. C is
``channel_step[0]``, then the next value after every ``channel_step_switch_after`` expansions.

State (``state_dict``): the epoch and cooldown counters, the expansion count (hence C), the scoring subset,
the growth generator's state, the last validation value and the log of checks and expansions (with each
expansion's dip: the monitored validation metric at the evaluation after it minus the one before it, and
the immediate relative change of the outputs on the subset). The grown architecture itself is recorded by
the model (``architecture_state``), so a run killed after an expansion resumes bit-identically. Wall times
(``timings``) are kept outside the state: they differ between runs.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Callback
from forwardkit.interfaces.context import RunContext
from forwardkit_self_expanding_cnn.config import SelfExpansionConfig
from forwardkit_self_expanding_cnn.score import (
    SMALL_MODEL,
    apply_expansion,
    candidate_expansions,
    default_loss,
    eval_mode,
    expanded_copy,
    is_expandable,
    natural_expansion_score,
    regularized_score,
)

Candidate = tuple[str, int, int]



def decide(eta_current: float, layer: Mapping[int, float], channels: Mapping[int, float], tau: float
           ) -> tuple[str, int] | None:
    """The rule of Sec. 3.1 on (regularised) scores: ``("layer", b)``, ``("channels", b)`` or None.

    ``layer`` / ``channels`` map a block to its candidate's score (absent: not allowed); the best of each kind
    is taken (ties: the first block); exact ties between the kinds expand nothing, as the rule is written.
    """
    def best(scores: Mapping[int, float]) -> tuple[float, int]:
        if not scores:
            return -math.inf, -1
        b = max(sorted(scores), key=lambda k: scores[k])
        return scores[b], b

    def ratio(eta: float) -> float:
        return eta / eta_current if eta_current > 0 else (math.inf if eta > 0 else 0.0)

    eta_l, b_l = best(layer)
    eta_i, b_i = best(channels)
    if eta_l > eta_i and ratio(eta_l) > tau:
        return "layer", b_l
    if eta_i > eta_l and ratio(eta_i) > tau:
        return "channels", b_i
    return None


def channel_step_at(expansions: int, steps: list[int], switch_after: int) -> int:
    """C after ``expansions`` expansions: ``steps[min(len - 1, expansions // switch_after)]``."""
    return steps[min(len(steps) - 1, expansions // switch_after)]


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model) if isinstance(model, nn.parallel.DistributedDataParallel) else model


class SelfExpansion(Callback):
    """Grows an expandable model at epoch ends by the natural expansion score (see the module docstring)."""

    Config = SelfExpansionConfig
    config: SelfExpansionConfig
    conformance_models = (SMALL_MODEL,)
    #: the kit's resume checks interrupt at step 5: a random expansion at the end of epoch 1 (step 3) comes
    #: before it (the score rule's own resume is the plugin's test_resume)
    conformance_configs = ({"criterion": "random", "random_schedule": [1], "subset_size": 16},)
    conformance_experiment = {
        "data": {"name": "blobs", "image_size": 8, "n_samples": 120, "clusters_per_class": 2},
        "model": {k: v for k, v in SMALL_MODEL.items() if k not in ("num_classes", "input_size")},
        "learning_rule": {"name": "backprop", "optimizer": "adam", "lr": 0.01, "on_model_change": "keep_state"},
        "trainer": {"epochs": 3, "batch_size": 32},
    }

    def __init__(self, config: SelfExpansionConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        seed = self.config.seed if self.config.seed is not None else torch.initial_seed()
        self.generator = torch.Generator().manual_seed(int(seed) % (2**63))
        self.epochs_seen = 0
        self.cooldown_left = 0
        self.expansions = 0
        self.subset: dict[str, Tensor] = {}
        self.last_value: float | None = None
        self.checks: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        #: wall seconds of each check's scoring and of each growth step (not state: they differ between runs)
        self.timings: list[dict[str, float]] = []

    # ---- the scoring subset: the first subset_size training samples of the run ----------------------------
    def on_batch_start(self, batch: dict[str, Tensor], ctx: RunContext) -> dict[str, Tensor]:
        have = len(self.subset["y"]) if self.subset else 0
        need = self.config.subset_size - have
        if need > 0 and "y" in batch:
            n = len(batch["y"])
            take = {k: v[:need].detach().cpu().clone() for k, v in batch.items()
                    if isinstance(v, Tensor) and v.dim() > 0 and len(v) == n}
            self.subset = take if not self.subset else {k: torch.cat([self.subset[k], take[k]]) for k in self.subset}
        return batch

    # ---- dips --------------------------------------------------------------------------------------------
    def _monitor(self, ctx: RunContext) -> tuple[str, str]:
        task = ctx.extra.get("task")
        name = self.config.monitor or f"val/{getattr(task, 'primary_metric', 'accuracy')}"
        return name, str(getattr(task, "mode", "max"))

    def on_evaluate_end(self, split: str, metrics: Mapping[str, float], ctx: RunContext) -> None:
        name, mode = self._monitor(ctx)
        if split != "val" or name not in metrics:
            return
        value = float(metrics[name])
        for entry in self.log:
            if entry["val_after"] is None and entry["val_before"] is not None:
                entry["val_after"] = value
                drop = entry["val_before"] - value if mode == "max" else value - entry["val_before"]
                entry["dip"] = max(0.0, drop)
        self.last_value = value

    # ---- the decision ------------------------------------------------------------------------------------
    def _loss(self, ctx: RunContext) -> Any:
        task = ctx.extra.get("task")
        return task.loss if task is not None else default_loss

    def _subset(self, device: torch.device) -> dict[str, Tensor]:
        return {k: v.to(device) for k, v in self.subset.items()}

    def _score(self, model: nn.Module, subset: Mapping[str, Tensor], loss: Any) -> float:
        cfg = self.config
        return natural_expansion_score(model, subset, loss_fn=loss, fisher=cfg.fisher, eps=cfg.eps,
                                       normalize_by_params=cfg.normalize_by_params, chunk=cfg.score_batch_size)

    def _candidates(self, model: nn.Module) -> list[Candidate]:
        step = channel_step_at(self.expansions, list(self.config.channel_step), self.config.channel_step_switch_after)
        return candidate_expansions(model, channel_step=step, allow=self.config.allow)

    def score_candidates(self, model: nn.Module, ctx: RunContext, noise: Tensor | int
                         ) -> tuple[Candidate | None, dict[str, Any]]:
        """One check of the rule: eta of ``model`` and eta_reg of every allowed candidate (each applied to a
        copy with the growth noise of seed ``noise``) on the scoring subset; returns the chosen candidate
        (or None) and the scores."""
        subset, loss = self._subset(ctx.device), self._loss(ctx)
        eta_c = self._score(model, subset, loss)
        before = int(model.num_params())  # type: ignore[operator]
        scores: dict[str, dict[int, float]] = {"layer": {}, "channels": {}}
        by_key: dict[tuple[str, int], Candidate] = {}
        record: dict[str, Any] = {"eta_current": eta_c, "candidates": {}}
        cap = self.config.max_total_params
        for cand in self._candidates(model):
            twin = expanded_copy(model, cand, self._noise(noise))
            added = int(twin.num_params()) - before  # type: ignore[operator]
            if cap is not None and before + added > cap:
                continue
            eta = regularized_score(self._score(twin, subset, loss), added, self.config.lambda_n)
            scores[cand[0]][cand[1]] = eta
            by_key[(cand[0], cand[1])] = cand
            record["candidates"][f"{cand[0]}_b{cand[1]}"] = eta
        choice = decide(eta_c, scores["layer"], scores["channels"], self.config.tau)
        return (by_key[choice] if choice is not None else None), record

    def _at_random(self, model: nn.Module) -> Candidate | None:
        cap = self.config.max_total_params
        options = [c for c in self._candidates(model) if cap is None
                   or int(expanded_copy(model, c, torch.Generator().manual_seed(0)).num_params()) <= cap]  # type: ignore[operator]
        if not options:
            return None
        return options[int(torch.randint(len(options), (1,), generator=self.generator))]

    def _noise(self, seed: Tensor | int) -> torch.Generator:
        """A generator for one decision's growth noise: every candidate and the applied expansion alike."""
        return torch.Generator().manual_seed(int(seed))

    def grow(self, model: nn.Module, choice: Candidate, noise: Tensor | int) -> None:
        """Apply ``choice`` to ``model`` with the growth noise of seed ``noise`` (the scored copy's noise)."""
        apply_expansion(model, choice, self._noise(noise))

    def _due(self) -> bool:
        cfg = self.config
        if cfg.criterion == "random" and cfg.random_schedule:
            return self.epochs_seen in cfg.random_schedule
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            return False
        return self.epochs_seen % cfg.check_every == 0

    def on_fit_start(self, ctx: RunContext) -> None:
        if not is_expandable(_unwrap(ctx.model)):
            raise ForwardkitError(f"self_expansion needs an expandable model (add_identity_layer, widen_block, ...: "
                                  f"the expandable_cnn model); got {type(_unwrap(ctx.model)).__name__}")

    def on_epoch_end(self, ctx: RunContext) -> bool:
        self.epochs_seen += 1
        model = _unwrap(ctx.model)
        if not self._due() or not self.subset:
            return False
        start = time.perf_counter()
        noise = torch.randint(2**62, (1,), generator=self.generator)
        if self.config.criterion == "score":
            choice, record = self.score_candidates(model, ctx, noise)
        else:
            choice, record = self._at_random(model), {}
        choice = _agreed(choice, ctx)
        scored = time.perf_counter()
        self.checks.append({"epoch": self.epochs_seen, "step": ctx.step, **record,
                            "decision": None if choice is None else f"{choice[0]}_b{choice[1]}"})
        if choice is None:
            self.timings.append({"score_s": scored - start, "grow_s": 0.0})
            return False
        self._snapshot(model, ctx)
        subset = self._subset(ctx.device)
        key = getattr(model, "input_key", "x")
        with torch.no_grad(), eval_mode(model):
            out_before = model(subset[key])
        params_before = int(model.num_params())  # type: ignore[operator]
        self.grow(model, choice, noise)
        with torch.no_grad(), eval_mode(model):
            out_after = model(subset[key])
        change = float((out_after - out_before).abs().max() / out_before.abs().max().clamp_min(1e-12))
        self.expansions += 1
        self.cooldown_left = self.config.cooldown
        self.log.append({"epoch": self.epochs_seen, "step": ctx.step, "kind": choice[0], "block": choice[1],
                         "channels": choice[2], "params_before": params_before,
                         "params_after": int(model.num_params()),  # type: ignore[operator]
                         "val_before": self.last_value, "val_after": None, "dip": None, "output_change": change})
        self.timings.append({"score_s": scored - start, "grow_s": time.perf_counter() - scored})
        return True

    def _snapshot(self, model: nn.Module, ctx: RunContext) -> None:
        """With ``save_snapshots``: the model before this expansion, in ``<run_dir>/expansions/``."""
        if not (self.config.save_snapshots and ctx.run_dir is not None and ctx.rank == 0):
            return
        from safetensors.torch import save_file

        folder = ctx.run_dir / "expansions" / f"{self.expansions:02d}-step{ctx.step:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                  str(folder / "model.safetensors"))
        info = {"step": ctx.step, "epoch": self.epochs_seen, "parameters": int(model.num_params()),  # type: ignore[operator]
                "architecture": model.architecture(),  # type: ignore[operator]
                "config": model.config.model_dump(mode="json")}  # type: ignore[union-attr,operator]
        (folder / "architecture.json").write_text(json.dumps(info, indent=1), encoding="utf-8")

    # ---- state ---------------------------------------------------------------------------------------------
    def summary(self) -> dict[str, float]:
        """Figures of the run so far: expansions by kind, the largest dip and output change."""
        dips = [e["dip"] for e in self.log if e["dip"] is not None]
        return {"expansions": float(len(self.log)),
                "layer_expansions": float(sum(e["kind"] == "layer" for e in self.log)),
                "channel_expansions": float(sum(e["kind"] == "channels" for e in self.log)),
                "checks": float(len(self.checks)),
                "max_dip": max(dips) if dips else 0.0,
                "max_output_change": max((e["output_change"] for e in self.log), default=0.0)}

    def state_dict(self) -> dict[str, Any]:
        return {"epochs_seen": self.epochs_seen, "cooldown_left": self.cooldown_left, "expansions": self.expansions,
                "generator": self.generator.get_state(), "subset": dict(self.subset), "last_value": self.last_value,
                "checks": [dict(c, candidates=dict(c.get("candidates", {}))) for c in self.checks],
                "log": [dict(e) for e in self.log]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epochs_seen = int(state["epochs_seen"])
        self.cooldown_left = int(state["cooldown_left"])
        self.expansions = int(state["expansions"])
        self.generator.set_state(state["generator"].clone())
        self.subset = {k: v.clone() for k, v in dict(state["subset"]).items()}
        self.last_value = None if state["last_value"] is None else float(state["last_value"])
        self.checks = [dict(c) for c in state["checks"]]
        self.log = [dict(e) for e in state["log"]]


def _agreed(choice: Candidate | None, ctx: RunContext) -> Candidate | None:
    """In a distributed run every process applies rank 0's decision (each scored its own subset)."""
    if ctx.world_size <= 1 or not torch.distributed.is_available() or not torch.distributed.is_initialized():
        return choice
    box: list[Any] = [list(choice) if choice is not None else None]
    torch.distributed.broadcast_object_list(box, src=0)
    return None if box[0] is None else (str(box[0][0]), int(box[0][1]), int(box[0][2]))


__all__ = ["SelfExpansion", "channel_step_at", "decide"]
