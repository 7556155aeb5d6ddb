"""Measure registered models (default configs, or the fields a job gives) on ``Model.example_batch`` inputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from forwardkit.bench.mixers import _error, _timed, compiled_first_calls, peak_bytes


@dataclass
class ModelJob:
    """One model at one batch size: its default config with the fields of ``config``."""

    name: str
    batch: int = 32
    threads: int = 1
    warmup: int = 2
    repeats: int = 7
    budget_s: float = 3.0
    device: str = "cpu"
    config: dict[str, Any] = field(default_factory=dict)
    #: time the model's ``forward_batch`` through ``torch.compile`` (compile time reported as ``compile_s``)
    compile: bool = False

    def skipped(self, reason: str) -> list[dict[str, Any]]:
        return [{"kind": "model", "name": self.name, "batch": self.batch, "status": "skipped", "reason": reason}]


def _loss(out: Any) -> Any:
    """A scalar to backpropagate from whatever the model returns (tensor, tuple, dict)."""
    import torch

    if isinstance(out, torch.Tensor):
        return out.float().mean()
    values = out.values() if isinstance(out, dict) else out if isinstance(out, (list, tuple)) else []
    parts = [_loss(v) for v in values if isinstance(v, (torch.Tensor, dict, list, tuple))]
    parts = [p for p in parts if p is not None and p.requires_grad]
    return sum(parts) if parts else None


def run_model_job(job: ModelJob, registry: Any = None) -> list[dict[str, Any]]:
    """Parameters, MACs per sample, fwd / fwd+bwd latency and samples/s of one model; never raises."""
    import torch

    from forwardkit.compose import build_model
    from forwardkit.measure import count_macs, count_parameters

    torch.set_num_threads(max(1, job.threads))
    try:
        model = build_model({"name": job.name, **job.config}, registry=registry).to(job.device).train()
        batch = model.example_batch(job.batch, generator=torch.Generator().manual_seed(0))
        batch = {k: v.to(job.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    except Exception as exc:
        return job.skipped(f"cannot build: {_error(exc)}")
    sync: Callable[[], None] = torch.cuda.synchronize if job.device.startswith("cuda") else (lambda: None)
    run: Callable[[Any], Any] = model.forward_batch
    if job.compile:
        from forwardkit.engine.compiling import BatchForward, compile_forward

        try:
            run = compile_forward(BatchForward(model), device=job.device, caller="bench")
        except Exception as exc:
            return job.skipped(f"cannot compile: {_error(exc)}")

    def forward() -> None:
        with torch.no_grad():
            run(batch)

    def forward_backward() -> None:
        model.zero_grad(set_to_none=True)
        loss = _loss(run(batch))
        if loss is None:
            raise RuntimeError("the model output has nothing to backpropagate")
        loss.backward()

    try:
        macs = count_macs(lambda: model.forward_batch(batch))
        compile_s = compiled_first_calls(forward, forward_backward, sync) if job.compile else None
        fwd_ms = _timed(forward, job, sync)
        fwdbwd_ms = _timed(forward_backward, job, sync)
        peak = peak_bytes(forward_backward, job.device)
    except Exception as exc:
        return job.skipped(f"failed while running: {_error(exc)}")
    inputs = {k: list(v.shape) for k, v in batch.items() if isinstance(v, torch.Tensor)}
    return [{
        "kind": "model",
        "name": job.name,
        "batch": job.batch,
        "status": "ok",
        "inputs": inputs,
        "params": count_parameters(model),
        "macs_per_sample": macs / job.batch,
        "fwd_ms": fwd_ms,
        "fwdbwd_ms": fwdbwd_ms,
        "samples_per_s": job.batch / (fwd_ms / 1e3),
        "samples_per_s_fwdbwd": job.batch / (fwdbwd_ms / 1e3),
        "peak_mb": peak / 2**20,
        **({"compile_s": compile_s} if job.compile else {}),
    }]
