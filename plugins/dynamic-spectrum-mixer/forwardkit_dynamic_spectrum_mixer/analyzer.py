"""``band_energy``: what the spectrum band selector does on real inputs (card "Components": Analyzer).

For every DCT spectrum mixer of a model (``dsm`` and ``dct_static``, in module order) it records the
mixer's inputs over the given batches (forward pre-hooks, eval mode, no gradients) and computes, with the
mixer's own bands ``band(k) = min(K-1, floor(K mean_i(k_i / n_i)))`` over its full grid:

* ``mixer<i>/band<b>/energy``: mean ``|S|`` of the DCT spectrum of the (projected) input in band b;
* for gated mixers, ``mixer<i>/band<b>/gate_mean``: the mean generated gate ``a[:, b, :]`` (band_gate:
  ``2 sigmoid(logits)``; filter_bank: the softmax mixing weight of filter b), and
  ``mixer<i>/band<b>/gate_spread``: its standard deviation across the images, averaged over the channels;
* ``mixer<i>/gate_spread`` (mean over the non-empty bands) and ``gate_spread`` (mean over the gated
  mixers): the card's figure of whether the selector varies with the input (0: a constant gate).

Empty bands (grids smaller than K) are left out. Table ``bands`` (one row per mixer and band); figure
``band_gates`` (mean gate per band with its spread, one panel per gated mixer).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from forwardkit.data import example_batch, forward_batch
from forwardkit.interfaces import Analysis, Analyzer
from forwardkit_dynamic_spectrum_mixer.bands import band_map
from forwardkit_dynamic_spectrum_mixer.config import BandEnergyConfig
from forwardkit_dynamic_spectrum_mixer.dct import dctn
from forwardkit_dynamic_spectrum_mixer.generator import band_gates
from forwardkit_dynamic_spectrum_mixer.mixer import SpectrumMixer

#: a small dsm model for the conformance kit (8 x 8 images, two stages: grids 4 x 4 and 2 x 2)
SMALL_DSM: dict[str, Any] = {"name": "dsm_tiny", "input_size": [8, 8], "depths": [1, 1], "dims": [8, 16]}


@torch.no_grad()
def mixer_inputs(model: nn.Module, batches: Iterable[Mapping[str, Tensor]]) -> dict[str, Tensor]:
    """The inputs ``(N, *spatial, C)`` every :class:`SpectrumMixer` of ``model`` receives on ``batches``
    (eval mode), by module name, in module order."""
    mixers = {name: m for name, m in model.named_modules() if isinstance(m, SpectrumMixer)}
    seen: dict[str, list[Tensor]] = {name: [] for name in mixers}
    handles = [m.register_forward_pre_hook(lambda _m, args, name=name: seen[name].append(args[0].detach()))
               for name, m in mixers.items()]
    model.eval()
    try:
        for batch in batches:
            forward_batch(model, batch)
    finally:
        for h in handles:
            h.remove()
    return {name: torch.cat(xs) for name, xs in seen.items() if xs}


@torch.no_grad()
def band_statistics(mixer: SpectrumMixer, x: Tensor) -> list[dict[str, float]]:
    """Per non-empty band of ``mixer`` on inputs ``x`` ``(N, *spatial, C)``: ``energy`` (mean |S|) and, for a
    gated mixer, ``gate_mean`` and ``gate_spread`` (std across the N images, mean over channels)."""
    z = mixer.project_in(x).float()
    spatial = tuple(z.shape[1:-1])
    spectrum = dctn(z, tuple(range(1, z.dim() - 1))).abs()  # (N, *spatial, C)
    bands = band_map(spatial, mixer.num_bands, device=z.device)
    logits = mixer.gate_logits(z)
    gates = None
    if logits is not None:
        gates = torch.softmax(logits, dim=1) if mixer.weight_mode == "filter_bank" else band_gates(logits)
    rows = []
    for b in range(mixer.num_bands):
        mask = bands == b
        if not bool(mask.any()):
            continue
        row = {"band": float(b), "frequencies": float(mask.sum()), "energy": float(spectrum[:, mask].mean())}
        if gates is not None:
            g = gates[:, b, :]  # (N, C)
            row["gate_mean"] = float(g.mean())
            row["gate_spread"] = float(g.std(dim=0, correction=0).mean())
        rows.append(row)
    return rows


class BandEnergy(Analyzer):
    """Per-band spectrum energy and generated gates of every DCT spectrum mixer (see the module docstring)."""

    Config = BandEnergyConfig
    config: BandEnergyConfig
    conformance_models: ClassVar[tuple[Any, ...]] = (SMALL_DSM,)

    def analyze(self, model: nn.Module, data: Iterable[Any] | None = None) -> Analysis:
        if not any(isinstance(m, SpectrumMixer) for m in model.modules()):
            raise ValueError(f"band_energy needs a model with dsm or dct_static token mixers; "
                             f"{type(model).__name__} has none")
        batches = [b for b in (data or []) if isinstance(b, Mapping) and "x" in b]
        if self.config.max_batches is not None:
            batches = batches[: self.config.max_batches]
        if not batches:
            batches = [example_batch(None, model, batch_size=8)]
        inputs = mixer_inputs(model, batches)
        modules = dict(model.named_modules())
        numbers: dict[str, float] = {"mixers": float(len(inputs)),
                                     "images": float(next(iter(inputs.values())).shape[0]) if inputs else 0.0}
        table: list[dict[str, Any]] = []
        spreads: list[float] = []
        panels: list[tuple[str, list[dict[str, float]]]] = []
        for i, (name, x) in enumerate(inputs.items()):
            mixer = modules[name]
            assert isinstance(mixer, SpectrumMixer)
            rows = band_statistics(mixer, x)
            for row in rows:
                b = int(row["band"])
                for key in ("energy", "gate_mean", "gate_spread"):
                    if key in row:
                        numbers[f"mixer{i}/band{b}/{key}"] = row[key]
                table.append({"mixer": i, "module": name, "grid": "x".join(map(str, x.shape[1:-1])),
                              "weight_mode": mixer.weight_mode, **row})
            if mixer.generator is not None and rows:
                spread = sum(r["gate_spread"] for r in rows) / len(rows)
                numbers[f"mixer{i}/gate_spread"] = spread
                spreads.append(spread)
                panels.append((f"mixer {i} ({'x'.join(map(str, x.shape[1:-1]))})", rows))
        numbers["gated_mixers"] = float(len(spreads))
        if spreads:
            numbers["gate_spread"] = sum(spreads) / len(spreads)
        out = Analysis(numbers=numbers, tables={"bands": table})
        if self.config.figure and panels:
            out.figures["band_gates"] = self._figure(panels)
        return out

    @staticmethod
    def _figure(panels: list[tuple[str, list[dict[str, float]]]]) -> Any:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels) + 0.5, 2.4), squeeze=False)
        for ax, (title, rows) in zip(axes[0], panels, strict=True):
            bands = [int(r["band"]) for r in rows]
            ax.bar(bands, [r["gate_mean"] for r in rows], yerr=[r["gate_spread"] for r in rows], color="#4c72b0",
                   capsize=3)
            ax.set_title(title, fontsize=8)
            ax.set_xlabel("band", fontsize=7)
            ax.set_xticks(bands)
            ax.tick_params(labelsize=7)
        axes[0][0].set_ylabel("gate (mean, std over images)", fontsize=7)
        fig.tight_layout()
        return fig
