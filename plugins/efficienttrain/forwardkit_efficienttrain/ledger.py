"""Compute accounting of a curriculum run: what the training actually cost, step by step.

:class:`ComputeLedger` is the record the curriculum keeps (state, so resumed runs continue it exactly): for every
bandwidth the run trained at, the steps and samples, and (in this process only, not state) their wall seconds.
Its relative compute is computed from what ran, never assumed:

    relative_flops = sum_i n_i (B_h,i B_w,i) / (H W) / sum_i n_i          (n_i: samples trained at B_i)

which for the default v1 table over 10 epochs of 4000 MNIST digits is (3 (20/28)^2 + (24/28)^2 + 1) / 5 = 0.653.
``full_res_equivalent_samples = sum_i n_i (B_i/H)^2`` compares runs of different lengths (the equal-compute
baseline). :class:`ComputeLedgerAnalyzer` (the ``compute_ledger`` analyzer) reports it, and also weighs the
model's *measured* multiply-accumulates at each B (torch's FLOP counter), so the conv net's real (B/H)^2 scaling,
strides and padding included, is checked against the pixel count.

The curriculum ties its ledger to the model it trains (a weak map in this module); the analyzer, given that model,
reads it. Given a model trained without the curriculum it accounts for its own ``stages`` at the data's resolution.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.data import forward_batch
from forwardkit.interfaces import Analysis, Analyzer
from forwardkit.measure import count_macs
from forwardkit_efficienttrain.config import ComputeLedgerConfig
from forwardkit_efficienttrain.crop import CroppedInput, low_freq_crop
from forwardkit_efficienttrain.schedule import bandwidths, pixel_ratio, step_shares


def _key(bandwidth: tuple[int, int]) -> str:
    return f"{bandwidth[0]}x{bandwidth[1]}"


class ComputeLedger:
    """Steps, samples and seconds per bandwidth of one run at images of ``size = (H, W)``."""

    def __init__(self) -> None:
        self.size: tuple[int, int] | None = None
        #: "BhxBw" -> {"bandwidth": [Bh, Bw], "steps": int, "samples": int}, in the order first trained
        self.entries: dict[str, dict[str, Any]] = {}
        #: "BhxBw" -> [seconds, timed steps] of this process (not state: wall time differs between runs)
        self.seconds: dict[str, list[float]] = {}
        #: sum over steps of (B/H)^2: the compute consumed, in full-resolution steps (EfficientTrain++'s LR clock)
        self.step_compute = 0.0

    def record(self, bandwidth: tuple[int, int], samples: int, seconds: float | None = None) -> None:
        """One training step of ``samples`` images at ``bandwidth`` (``seconds``: its wall time, if timed)."""
        if self.size is None:
            raise RuntimeError("ComputeLedger.size must be set before steps are recorded")
        key = _key(bandwidth)
        entry = self.entries.setdefault(key, {"bandwidth": [int(bandwidth[0]), int(bandwidth[1])], "steps": 0,
                                              "samples": 0})
        entry["steps"] += 1
        entry["samples"] += int(samples)
        self.step_compute += pixel_ratio(bandwidth, self.size)
        if seconds is not None:
            acc = self.seconds.setdefault(key, [0.0, 0])
            acc[0] += seconds
            acc[1] += 1

    def rows(self) -> list[dict[str, Any]]:
        """One row per bandwidth: B, steps, samples, (B/H)^2 and, where timed, seconds per step."""
        assert self.size is not None or not self.entries
        out = []
        for key, e in self.entries.items():
            bw = (int(e["bandwidth"][0]), int(e["bandwidth"][1]))
            row: dict[str, Any] = {"bandwidth": key, "steps": e["steps"], "samples": e["samples"],
                                   "pixel_ratio": pixel_ratio(bw, self.size) if self.size else 1.0}
            if key in self.seconds and self.seconds[key][1]:
                row["ms_per_step"] = 1e3 * self.seconds[key][0] / self.seconds[key][1]
            out.append(row)
        return out

    @property
    def samples(self) -> int:
        return sum(int(e["samples"]) for e in self.entries.values())

    def full_res_equivalent_samples(self) -> float:
        """``sum_i n_i (B_i/H)^2``: the samples a full-resolution run of the same compute would train on."""
        return sum(r["samples"] * r["pixel_ratio"] for r in self.rows())

    def relative_flops(self) -> float:
        """Compute relative to training the same samples at full resolution (1.0 for an empty ledger)."""
        n = self.samples
        return self.full_res_equivalent_samples() / n if n else 1.0

    def state_dict(self) -> dict[str, Any]:
        return {"size": list(self.size) if self.size else None,
                "entries": [dict(e, key=k) for k, e in self.entries.items()], "step_compute": self.step_compute}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.size = None if state["size"] is None else (int(state["size"][0]), int(state["size"][1]))
        self.entries = {str(e["key"]): {"bandwidth": [int(b) for b in e["bandwidth"]], "steps": int(e["steps"]),
                                        "samples": int(e["samples"])} for e in state["entries"]}
        self.step_compute = float(state["step_compute"])
        self.seconds = {}


#: the ledger of the run that trains a model (set by the curriculum at fit start)
_LEDGERS: weakref.WeakKeyDictionary[nn.Module, ComputeLedger] = weakref.WeakKeyDictionary()


def attach_ledger(model: nn.Module, ledger: ComputeLedger) -> None:
    """Tie ``ledger`` to ``model``, so that :func:`ledger_of` (and the analyzer) finds it."""
    _LEDGERS[model] = ledger


def ledger_of(model: nn.Module) -> ComputeLedger | None:
    """The ledger of the run that trained ``model`` (or the model inside a :class:`CroppedInput`), else None."""
    found = _LEDGERS.get(model)
    if found is None and isinstance(model, CroppedInput):
        found = _LEDGERS.get(model.model)
    return found


def _first_batch(data: Iterable[Any] | None, model: nn.Module) -> dict[str, Tensor] | None:
    if data is not None:
        for batch in data:
            return dict(batch)
    make = getattr(model, "example_batch", None)
    if callable(make):
        try:
            return dict(make(2))
        except NotImplementedError:
            return None
    return None


class ComputeLedgerAnalyzer(Analyzer):
    """The ``compute_ledger`` analyzer: relative compute (theoretical and measured MACs) of the run's curriculum.

    Numbers: ``relative_flops`` (sample-weighted (B/H)^2), ``flops_speedup`` (its inverse), ``samples``,
    ``full_res_equivalent_samples``, ``steps``, ``from_run`` (1: read from the run's ledger; 0: the configured
    schedule, weighted by its step shares, per sample), and with ``measure_macs`` ``relative_macs`` and
    ``macs_full`` (one forward of one image). With timings for the full resolution and every other B in this
    process: ``wallclock_speedup_estimate`` = time of the same steps at full resolution / time taken, from the
    run's own per-step times. Table ``resolutions``: one row per B.
    """

    Config = ComputeLedgerConfig
    config: ComputeLedgerConfig

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        cfg = self.config
        ledger = ledger_of(model)
        batch = _first_batch(data, model)
        if ledger is not None and ledger.size is not None and ledger.entries:
            size = ledger.size
            rows = ledger.rows()
            weights = {r["bandwidth"]: float(r["samples"]) for r in rows}
            from_run = 1.0
        else:
            if batch is None or cfg.image_key not in batch or batch[cfg.image_key].dim() != 4:
                raise ValueError(f"compute_ledger needs a run ledger or data with (N, H, W, C) images under "
                                 f"{cfg.image_key!r} (image_key) to account for its schedule")
            x = batch[cfg.image_key]
            size = (int(x.shape[1]), int(x.shape[2]))
            shares = step_shares(cfg.stages, size, cfg.round_to, equal_compute=cfg.equal_compute_stages)
            merged: dict[str, float] = {}
            for b, share in zip(bandwidths(cfg.stages, size, cfg.round_to), shares, strict=True):
                merged[_key(b)] = merged.get(_key(b), 0.0) + share
            rows = [{"bandwidth": k, "steps": 0, "samples": 0, "step_share": v,
                     "pixel_ratio": pixel_ratio(_parse(k), size)} for k, v in merged.items()]
            weights = dict(merged)
            from_run = 0.0
        total = sum(weights.values())
        rel = sum(weights[r["bandwidth"]] * r["pixel_ratio"] for r in rows) / total if total else 1.0
        numbers: dict[str, float] = {
            "relative_flops": rel, "flops_speedup": 1.0 / rel if rel else 0.0, "from_run": from_run,
            "samples": float(sum(r["samples"] for r in rows)),
            "steps": float(sum(r["steps"] for r in rows)),
            "full_res_equivalent_samples": float(sum(r["samples"] * r["pixel_ratio"] for r in rows)),
            "image_side": float(size[0]),
        }
        if cfg.measure_macs and batch is not None and cfg.image_key in batch:
            macs_full = self._macs(model, batch, size, size)
            for r in rows:
                r["macs"] = self._macs(model, batch, _parse(r["bandwidth"]), size)
            if macs_full:
                numbers["macs_full"] = float(macs_full)
                numbers["relative_macs"] = sum(weights[r["bandwidth"]] * r["macs"] for r in rows) / (
                    total * macs_full) if total else 1.0
        timed = {r["bandwidth"]: r["ms_per_step"] for r in rows if "ms_per_step" in r}
        full_key = _key(size)
        if from_run and full_key in timed and len(timed) == len(rows):
            spent = sum(r["steps"] * timed[r["bandwidth"]] for r in rows)
            at_full = sum(r["steps"] for r in rows) * timed[full_key]
            numbers["wallclock_speedup_estimate"] = at_full / spent if spent else 1.0
        return Analysis(numbers=numbers, tables={"resolutions": rows})

    def _macs(self, model: nn.Module, batch: Mapping[str, Tensor], bandwidth: tuple[int, int],
              size: tuple[int, int]) -> int:
        """MACs of one forward of one image at ``bandwidth`` (the first image of ``batch``, cropped)."""
        key = self.config.image_key
        one = {k: v[:1] for k, v in batch.items() if isinstance(v, Tensor) and v.dim() > 0}
        if tuple(bandwidth) != tuple(size):
            one[key] = low_freq_crop(one[key], bandwidth)
        was = model.training
        model.eval()
        try:
            with torch.no_grad():
                return count_macs(lambda: forward_batch(model, one))
        finally:
            model.train(was)


def _parse(key: str) -> tuple[int, int]:
    h, w = key.split("x")
    return int(h), int(w)
