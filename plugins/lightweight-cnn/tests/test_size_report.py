"""Card tests of ``size_report``: raw bytes = 4 x params for float32, latency reported as a median with the number
of runs; the identity transform; sizes and MACs measured, not claimed."""

from __future__ import annotations

import io

import torch
from forwardkit_lightweight_cnn import sizes

import forwardkit


def test_report_of_the_reference_unified_model():
    model = forwardkit.create("model", "unified_model")
    batch = model.example_batch(8, generator=torch.Generator().manual_seed(0))
    compressor = forwardkit.create("compressor", "size_report", latency_runs=7, latency_warmup=1)
    out, report = compressor.compress(model, [batch])
    assert out is model  # identity: nothing changes
    d = report.details
    assert d["parameters"] == report.after.parameters == 15_130
    assert d["raw_param_bytes"] == 4 * 15_130  # float32
    assert d["state_tensor_bytes"] == 4 * 15_130  # no buffers without BatchNorm
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    assert report.after.bytes == d["torch_save_bytes"] == buffer.getbuffer().nbytes > d["raw_param_bytes"]
    assert d["safetensors_bytes"] > d["raw_param_bytes"]
    assert report.after.macs == d["macs"] == sizes.unified_macs(model.config)
    assert d["latency_stat"] == "median" and d["latency_runs"] == 7 and d["latency_batch"] == 1
    assert report.after.latency_ms == d["latency_ms"] > 0
    assert d["accuracy_samples"] == 8 and 0.0 <= report.after.accuracy <= 1.0
    assert report.before == report.after and report.ratios()["parameters"] == 1.0


def test_batchnorm_buffers_count_in_the_state_but_not_in_the_raw_parameter_bytes():
    model = forwardkit.create("model", "tiny_branch_cnn", batchnorm=True)
    _, report = forwardkit.create("compressor", "size_report", latency_runs=2, latency_warmup=0).compress(model)
    d = report.details
    params = sizes.branch_parameters(model.config)
    assert d["parameters"] == params and d["raw_param_bytes"] == 4 * params
    # running mean and var (float32) and num_batches_tracked (int64) of each BatchNorm
    assert d["state_tensor_bytes"] == 4 * params + sum(4 * 2 * w + 8 for w in model.config.widths)
    assert report.after.accuracy is None  # no labelled data given


def test_latency_batch_is_per_forward_and_per_image():
    model = forwardkit.create("model", "tiny_branch_cnn")
    _, report = forwardkit.create("compressor", "size_report", latency_runs=3, latency_warmup=0,
                                  latency_batch=16, threads=1).compress(model)
    d = report.details
    assert d["latency_batch"] == 16 and abs(d["latency_per_image_ms"] * 16 - d["latency_ms"]) < 1e-9
    assert d["threads"] == 1 and model.training  # the model's mode is restored
