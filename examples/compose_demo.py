"""Composition demo (`make demo` until the training engine's `forwardkit run` lands).

Builds the builtin 4-stage MetaFormer once per installed token mixer, runs a forward pass on an image
batch (B, H, W, C) and on a sequence batch (B, N, C), and prints parameters and forward latency.
"""

from __future__ import annotations

import time

import torch

import forwardkit as fk


def forward_ms(model: torch.nn.Module, x: torch.Tensor, repeats: int = 5) -> float:
    with torch.inference_mode():
        model(x)  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            model(x)
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    torch.manual_seed(0)
    registry = fk.get_registry()
    mixer = fk.create("token_mixer", "attention", dim=64)
    tokens = torch.randn(2, 8, 8, 64)
    print(f"attention mixer: {tuple(tokens.shape)} -> {tuple(mixer(tokens).shape)}")

    print(f"\n{'token mixer':<16}{'plugin':<24}{'params':>10}{'image ms':>10}{'seq ms':>9}")
    images, sequences = torch.randn(8, 32, 32, 3), torch.randn(8, 64, 3)
    for info in registry.components("token_mixer"):
        row = f"{info.name:<16}{info.plugin:<24}"
        try:
            image_model = fk.build_model({"name": "metaformer", "token_mixers": info.name, "num_classes": 10}).eval()
            seq_model = fk.build_model({"name": "metaformer", "rank": 1, "token_mixers": info.name}).eval()
            params = sum(p.numel() for p in image_model.parameters())
            assert image_model(images).shape == (8, 10) and seq_model(sequences).shape == (8, 10)
            row += f"{params:>10,}{forward_ms(image_model, images):>10.2f}{forward_ms(seq_model, sequences):>9.2f}"
        except Exception as exc:  # a mixer that cannot serve here is reported, not fatal
            row += f"  skipped: {type(exc).__name__}: {exc}"
        print(row)
    failed = registry.failed_plugins()
    if failed:
        print("\nplugins with problems (see `forwardkit doctor`): " + ", ".join(p.name for p in failed))


if __name__ == "__main__":
    main()
