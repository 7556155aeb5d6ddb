"""Peak training memory of one step: forward learning (per-layer detach) against backprop, same graph.

What is measured. Activation memory is what the paper's claim is about: backprop keeps every layer's
saved tensors alive until the single backward pass, a layer-local rule frees each layer's graph after
that layer's own backward. On the CPU there is no allocator peak counter, so the script counts the bytes
of the tensors autograd saves for backward (``torch.autograd.graph.saved_tensors_hooks``; storages
counted once, parameters excluded) between consecutive ``backward()`` calls, and reports the largest
such window: the activation memory alive at the peak of the step. On a CUDA device it also reports
``torch.cuda.max_memory_allocated`` during the step minus the memory allocated before it (weights,
optimizer state and the graph included), the allocator's true peak.

    python plugins/forwardgnn/benchmarks/memory.py            # depths 1..8, writes reports/memory.json
    python plugins/forwardgnn/benchmarks/memory.py --smoke    # tiny graph, depths 1-2, no file
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

import forwardkit
from forwardkit.interfaces import RunContext

HERE = Path(__file__).resolve().parent
RULES: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {  # arm -> (model options, rule, rule options)
    "backprop": ({}, "backprop", {"optimizer": "adam"}),
    "single_forward": ({}, "single_forward_gnn", {}),
    "top_to_loss": ({}, "top_down_single_forward_gnn", {"mode": "to_loss"}),
    "ff_append": ({"label_input": True}, "forward_forward_gnn", {"label_injection": "append"}),
}


class SavedBytes:
    """Bytes of tensors saved for backward since the last ``backward()``; the largest window is the peak."""

    def __init__(self, params: set[int]) -> None:
        self.params, self.window, self.seen, self.peak = params, 0, set(), 0

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in self.params and ptr not in self.seen:
            self.seen.add(ptr)
            self.window += t.untyped_storage().nbytes()
        return t

    def close_window(self) -> None:
        self.peak = max(self.peak, self.window)
        self.window, self.seen = 0, set()


@contextlib.contextmanager
def counting(tracker: SavedBytes) -> Iterator[None]:
    original = torch.Tensor.backward

    def backward(self: torch.Tensor, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        tracker.close_window()

    torch.Tensor.backward = backward  # type: ignore[method-assign]
    try:
        with torch.autograd.graph.saved_tensors_hooks(tracker.pack, lambda t: t):
            yield
    finally:
        torch.Tensor.backward = original  # type: ignore[method-assign]
        tracker.close_window()


def one_step(arm: str, depth: int, data: Any, hidden: int, device: torch.device) -> dict[str, Any]:
    model_options, rule_name, rule_options = RULES[arm]
    md = data.metadata
    torch.manual_seed(0)
    model = forwardkit.create("model", "local_gnn", hidden=hidden, num_layers=depth, in_features=md.input_shape[-1],
                              num_classes=md.num_classes, **model_options).to(device)
    task = forwardkit.create("task", "node_classification")
    rule = forwardkit.create("learning_rule", rule_name, **rule_options)
    ctx = RunContext(model=model, device=device, loss_fn=task.loss, steps_per_epoch=1, total_steps=10, epochs=10)
    rule.setup(model, ctx)
    if arm == "single_forward":  # the costliest greedy step: the top layer in training
        rule.layer = depth - 1
    batch = {k: v[None].to(device) for k, v in data.split("train")[0].items()}
    rule.step(batch, ctx)  # warm-up: optimizer state exists, lazy init done
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    params |= {b.untyped_storage().data_ptr() for b in model.buffers()}
    tracker = SavedBytes(params)
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    start = time.perf_counter()
    with counting(tracker):
        rule.step(batch, ctx)
    if cuda:
        torch.cuda.synchronize()
    row: dict[str, Any] = {"arm": arm, "depth": depth, "activation_bytes": tracker.peak,
                           "step_ms": 1000 * (time.perf_counter() - start)}
    if cuda:
        row["cuda_peak_bytes"] = torch.cuda.max_memory_allocated() - before
    return row


def summarize(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per arm and depth: activation MiB and its ratio to backprop's at the same depth (same process)."""
    bp = {r["depth"]: r["activation_bytes"] for r in rows if r["arm"] == "backprop"}
    out: dict[str, dict[str, dict[str, float]]] = {}
    for r in rows:
        out.setdefault(r["arm"], {})[f"depth{r['depth']}"] = {
            "activation_mib": r["activation_bytes"] / 2**20, "vs_backprop": r["activation_bytes"] / bp[r["depth"]]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny graph, depths 1-2, nothing written")
    parser.add_argument("--depths", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=HERE.parent / "reports" / "memory.json")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.smoke:
        data = forwardkit.create("dataset", "sbm_graph", num_blocks=3, block_size=20, feat_dim=8)
        depths, hidden = [1, 2], 16
    else:
        data = forwardkit.create("dataset", "sbm_graph")  # 1000 nodes, 5 classes, ~14k directed edges
        depths, hidden = args.depths, args.hidden
    rows = [one_step(arm, d, data, hidden, device) for d in depths for arm in RULES]
    print(f"{'arm':>15} {'depth':>5} {'activation MiB':>15} {'step ms':>9}" + ("  cuda peak MiB" if device.type ==
                                                                                    "cuda" else ""))
    for r in rows:
        extra = f"  {r['cuda_peak_bytes'] / 2**20:13.2f}" if "cuda_peak_bytes" in r else ""
        print(f"{r['arm']:>15} {r['depth']:>5} {r['activation_bytes'] / 2**20:15.2f} {r['step_ms']:9.1f}{extra}")
    if not args.smoke:
        md = data.metadata
        out = {"graph": {"nodes": md.extra["num_nodes"], "edges": md.extra["num_edges"],
                         "features": md.input_shape[-1], "classes": md.num_classes},
               "hidden": hidden, "device": str(device), "torch": torch.__version__, "machine": platform.machine(),
               "method": "bytes of tensors saved for backward between backward() calls (peak window)"
                         + ("; cuda: max_memory_allocated during the step minus before" if device.type == "cuda"
                            else ""),
               "rows": rows, "summary": summarize(rows)}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
