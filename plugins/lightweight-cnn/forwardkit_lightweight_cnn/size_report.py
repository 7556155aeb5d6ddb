"""``size_report``: a Compressor that changes nothing and measures what the model costs (card "Components" and
"Performance notes"): parameters, raw and serialised bytes, analytic MACs, CPU latency, accuracy.

The paper reports "14,862 parameters and a model size of 0.17 MB"; 14,862 float32 parameters are 59,448 bytes
(0.06 MB), so its 0.17 MB is a file with metadata (a Keras file, perhaps with optimizer state), not the raw weights.
This report therefore keeps the sizes apart:

* ``raw_param_bytes``: ``sum(numel * element_size)`` over the parameters (``4 x params`` for float32);
* ``state_tensor_bytes``: the same over the state dict (parameters and buffers such as BatchNorm statistics);
* ``torch_save_bytes``: ``len(torch.save(state_dict))`` (pickle + zip container), the report's ``bytes``;
* ``safetensors_bytes``: the safetensors serialisation (what forwardkit checkpoints hold).

MACs are analytic for ``Conv2d`` and ``Linear`` (``out_elements * in_channels / groups * kh * kw`` and
``out_elements * in_features`` on one image; other operations are not counted). Latency is the median wall time of
``latency_runs`` forward passes of ``latency_batch`` images in eval mode without gradients, after ``latency_warmup``
untimed ones. Accuracy is scored on up to ``accuracy_batches`` batches of the given data, when they carry labels.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from forwardkit.errors import ForwardkitError
from forwardkit.interfaces import Compressor
from forwardkit.interfaces.compressor import CompressionReport, ModelFigures
from forwardkit.interfaces.model import forward_batch
from forwardkit_lightweight_cnn.config import SizeReportConfig


def size_bytes(model: nn.Module) -> dict[str, int]:
    """Raw parameter bytes, state-dict tensor bytes, ``torch.save`` bytes and safetensors bytes of ``model``."""
    from safetensors.torch import save

    params = list({id(p): p for p in model.parameters()}.values())
    state = model.state_dict()
    seen: set[tuple[int, int]] = set()
    tensor_bytes = 0
    for t in state.values():
        key = (t.data_ptr(), t.numel())
        if key not in seen:
            seen.add(key)
            tensor_bytes += t.numel() * t.element_size()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return {"raw_param_bytes": sum(p.numel() * p.element_size() for p in params),
            "state_tensor_bytes": tensor_bytes,
            "torch_save_bytes": buffer.getbuffer().nbytes,
            "safetensors_bytes": len(save({k: v.detach().cpu().contiguous() for k, v in state.items()}))}


def conv_linear_macs(model: nn.Module, batch: Mapping[str, Tensor]) -> int:
    """MACs of the ``Conv2d`` and ``Linear`` layers for one forward of ``batch`` (divided by its size).

    Conv: ``out.numel() * (in_channels / groups) * kh * kw``; Linear: ``out.numel() * in_features`` (biases,
    pools and activations are not counted)."""
    total = [0]

    def conv_hook(m: nn.Module, _inp: Any, out: Tensor) -> None:
        assert isinstance(m, nn.Conv2d)
        total[0] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear_hook(m: nn.Module, _inp: Any, out: Tensor) -> None:
        assert isinstance(m, nn.Linear)
        total[0] += out.numel() * m.in_features

    handles = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    handles += [m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    try:
        with torch.no_grad():
            forward_batch(model, batch)
    finally:
        for h in handles:
            h.remove()
    size = len(next(iter(batch.values())))
    return total[0] // max(size, 1)


def median_latency_ms(model: nn.Module, batch: Mapping[str, Tensor], *, runs: int, warmup: int) -> float:
    """Median milliseconds of ``forward_batch(model, batch)`` over ``runs`` timed calls (no grad)."""
    times = []
    with torch.no_grad():
        for i in range(warmup + runs):
            start = time.perf_counter()
            forward_batch(model, batch)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _sized(batch: Mapping[str, Tensor], n: int) -> dict[str, Tensor]:
    """The batch's first ``n`` samples (repeated when it has fewer)."""
    size = len(next(iter(batch.values())))
    index = torch.arange(n) % size
    return {k: v[index.to(v.device)] if v.dim() > 0 and v.shape[0] == size else v for k, v in batch.items()}


def accuracy(model: nn.Module, batches: list[Mapping[str, Tensor]]) -> float | None:
    """Top-1 accuracy of ``forward_batch`` logits ``(B, K)`` on labelled batches, else None."""
    right = seen = 0
    with torch.no_grad():
        for batch in batches:
            y = batch.get("y")
            if y is None or y.is_floating_point():
                return None
            out = forward_batch(model, batch)
            if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[0] != y.shape[0]:
                return None
            right += int((out.argmax(dim=-1) == y).sum())
            seen += int(y.numel())
    return right / seen if seen else None


def measure(model: nn.Module, data: Iterable[Any] | None = None, config: SizeReportConfig | None = None,
            ) -> dict[str, Any]:
    """Every figure of the report on ``model`` (unchanged; its train/eval mode is restored)."""
    cfg = config or SizeReportConfig()
    batches = [b for b in (data or []) if isinstance(b, Mapping) and b]
    maker = getattr(model, "example_batch", None)
    if batches:
        sample = dict(batches[0])
    elif callable(maker):
        sample = maker(1, generator=torch.Generator().manual_seed(0))
    else:
        raise ForwardkitError(f"size_report needs data or a model with example_batch(); {type(model).__name__} has "
                              "neither")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    sample = {k: v.to(device) for k, v in sample.items()}
    was_training = model.training
    threads = torch.get_num_threads()
    model.eval()
    try:
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        macs = conv_linear_macs(model, _sized(sample, 1))
        latency = median_latency_ms(model, _sized(sample, cfg.latency_batch), runs=cfg.latency_runs,
                                    warmup=cfg.latency_warmup)
        acc = accuracy(model, [{k: v.to(device) for k, v in b.items()} for b in batches[:cfg.accuracy_batches]])
    finally:
        torch.set_num_threads(threads)
        model.train(was_training)
    params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    return {"parameters": params, **size_bytes(model), "macs": macs, "latency_ms": latency,
            "latency_per_image_ms": latency / cfg.latency_batch, "latency_batch": cfg.latency_batch,
            "latency_runs": cfg.latency_runs, "latency_stat": "median", "threads": torch.get_num_threads()
            if cfg.threads is None else cfg.threads, "accuracy": acc,
            "accuracy_samples": sum(len(b.get("y", [])) for b in batches[:cfg.accuracy_batches]) if acc is not None
            else 0}


class SizeReport(Compressor):
    """The identity "compression" with a measured report (card component ``size_report``).

    ``compress(model, data)`` returns the same model and a report whose ``before`` and ``after`` are the same
    measured figures: ``parameters``, ``bytes`` = ``torch.save`` size, ``macs`` (analytic conv/linear, per image),
    ``latency_ms`` (median of ``latency_runs`` passes of ``latency_batch`` images), ``accuracy`` (on ``data``);
    ``details`` holds every size and how the latency was measured.
    """

    Config = SizeReportConfig
    config: SizeReportConfig
    when = "after_training"
    conformance_configs = ({"latency_runs": 3, "latency_warmup": 1},)

    def compress(self, model: nn.Module, data: Iterable[Any] | None = None) -> tuple[nn.Module, CompressionReport]:
        figures = measure(model, data, self.config)
        one = ModelFigures(parameters=figures["parameters"], bytes=figures["torch_save_bytes"], macs=figures["macs"],
                           latency_ms=figures["latency_ms"], accuracy=figures["accuracy"])
        return model, CompressionReport(before=one, after=ModelFigures(**vars(one)), details=figures)
