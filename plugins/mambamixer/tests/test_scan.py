"""The selective scan: the chunked form, the paper-literal sequential form and an explicit per-element loop agree
(values, reverse- and forward-mode gradients); the S6 special cases; time linear in L."""

from __future__ import annotations

import math
import statistics
import time

import pytest
import torch
from forwardkit_mambamixer.s6 import SelectiveSSM, dt_bias_init
from forwardkit_mambamixer.scan import (
    _scan_op,
    selective_scan,
    selective_scan_chunked,
    selective_scan_sequential,
)
from torch.func import jvp, vjp


def explicit_loop(u, delta, A, B, C, D):
    """Paper eq. 2 element by element, in plain Python floats: the independent reference."""
    bsz, length, width = u.shape
    n = A.shape[1]
    out = torch.zeros(bsz, length, width, dtype=torch.float64)
    for b in range(bsz):
        for e in range(width):
            h = [0.0] * n
            for t in range(length):
                d, x = float(delta[b, t, e]), float(u[b, t, e])
                h = [math.exp(d * float(A[e, k])) * h[k] + d * float(B[b, t, k]) * x for k in range(n)]
                out[b, t, e] = sum(float(C[b, t, k]) * h[k] for k in range(n)) + float(D[e]) * x
    return out


def inputs(bsz=2, length=13, width=3, n=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(bsz, length, width, generator=g, dtype=dtype)
    delta = torch.nn.functional.softplus(torch.randn(bsz, length, width, generator=g, dtype=dtype))
    A = -torch.rand(width, n, generator=g, dtype=dtype) * 3 - 0.1
    B = torch.randn(bsz, length, n, generator=g, dtype=dtype)
    C = torch.randn(bsz, length, n, generator=g, dtype=dtype)
    D = torch.randn(width, generator=g, dtype=dtype)
    return u, delta, A, B, C, D


@pytest.mark.parametrize("chunk", [1, 4, 5, 13, 64])
def test_sequential_chunked_and_explicit_loop_agree(chunk):
    u, delta, A, B, C, D = inputs()
    ref = explicit_loop(u, delta, A, B, C, D)
    seq = selective_scan(u, delta, A, B, C, D, mode="sequential")
    fast = selective_scan(u, delta, A, B, C, D, mode="chunked", chunk=chunk)
    assert torch.allclose(seq, ref, atol=1e-10, rtol=0)
    assert torch.allclose(fast, ref, atol=1e-10, rtol=0)


def test_the_gate_multiplies_by_silu_z():
    u, delta, A, B, C, D = inputs(seed=1)
    z = torch.randn_like(u)
    plain = selective_scan(u, delta, A, B, C, D)
    assert torch.allclose(selective_scan(u, delta, A, B, C, D, z), plain * torch.nn.functional.silu(z))


def test_long_sequences_with_strong_decay_stay_finite_and_agree():
    """Cumulative decays of exp(-hundreds) over a chunk: the chunked form must not overflow."""
    u, delta, A, B, C, _ = inputs(bsz=1, length=200, width=2, n=3, seed=2, dtype=torch.float32)
    delta = delta * 5  # Delta A down to about -50 per step
    fast, seq = selective_scan_chunked(u, delta, A, B, C, 64), selective_scan_sequential(u, delta, A, B, C)
    assert torch.isfinite(fast).all() and torch.allclose(fast, seq, atol=1e-4, rtol=1e-4)


def _grads_both_ways(fn, args, seed):
    """Reverse mode (vector-Jacobian product) and forward mode (Jacobian-vector product) of ``fn`` at ``args``."""
    g = torch.Generator().manual_seed(seed)
    out, pullback = vjp(fn, *args)
    cotangent = torch.randn(out.shape, generator=g, dtype=out.dtype)
    tangents = tuple(torch.randn(a.shape, generator=g, dtype=a.dtype) for a in args)
    return pullback(cotangent), jvp(fn, args, tangents)[1]


@pytest.mark.filterwarnings("ignore:.*torch.jit.script.*:DeprecationWarning")  # torch's forward-AD decompositions
@pytest.mark.parametrize("chunk", [3, 16])
def test_gradients_agree_in_both_directions(chunk):
    u, delta, A, B, C, _ = inputs(length=11, seed=3)
    args = (u, delta, A, B, C)
    rev_seq, fwd_seq = _grads_both_ways(selective_scan_sequential, args, seed=4)
    rev_fast, fwd_fast = _grads_both_ways(lambda *a: selective_scan_chunked(*a, chunk), args, seed=4)
    for name, a, b in zip("u delta A B C".split(), rev_seq, rev_fast, strict=True):
        assert torch.allclose(a, b, atol=1e-10, rtol=1e-8), f"reverse-mode gradient of {name}"
    assert torch.allclose(fwd_seq, fwd_fast, atol=1e-10, rtol=1e-8), "forward-mode gradient"


def test_chunked_passes_gradcheck():
    u, delta, A, B, C, _ = inputs(bsz=1, length=7, width=2, n=2, seed=5)
    args = tuple(t.requires_grad_() for t in (u, delta, A, B, C))
    assert torch.autograd.gradcheck(lambda *a: selective_scan_chunked(*a, 3), args)


def test_the_graph_capture_operator_gives_the_eager_values_and_gradients():
    u, delta, A, B, C, _ = inputs(length=9, seed=6)
    args = [t.clone().requires_grad_() for t in (u, delta, A, B, C)]
    ref = [t.clone().requires_grad_() for t in (u, delta, A, B, C)]
    y = _scan_op(*args, "chunked", 4)
    y_ref = selective_scan_chunked(*ref, 4)
    assert torch.equal(y, y_ref)
    w = torch.randn_like(y)
    (y * w).sum().backward()
    (y_ref * w).sum().backward()
    for a, b in zip(args, ref, strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-12)


def test_zero_b_and_c_with_d_one_give_d_times_u():
    u, delta, A, B, C, _ = inputs(seed=7)
    y = selective_scan(u, delta, A, torch.zeros_like(B), torch.zeros_like(C), torch.ones(u.shape[-1],
                                                                                          dtype=u.dtype))
    assert torch.equal(y, u)


def test_a_vanishing_step_keeps_the_state_at_zero():
    torch.manual_seed(0)
    ssm = SelectiveSSM(width=4, d_state=3, dt_rank=1)
    with torch.no_grad():
        ssm.dt_proj.bias.fill_(-40.0)  # softplus(-40) ~ 4e-18: Delta -> 0, so B-bar u -> 0
    u = torch.randn(2, 10, 4) * 3
    y = ssm(u)
    assert torch.allclose(y, u * ssm.D, atol=1e-12)  # only the skip D u is left: the state stayed ~0


def test_delta_bias_init_is_log_uniform_in_the_range():
    dt = torch.nn.functional.softplus(dt_bias_init(4000, 1e-3, 0.1, generator=torch.Generator().manual_seed(0)))
    assert dt.min() >= 1e-3 * 0.999 and dt.max() <= 0.1 * 1.001
    logs = dt.log()  # log-uniform: the mean of log dt is the middle of the log range
    assert abs(float(logs.mean()) - (torch.tensor(1e-3).log() + torch.tensor(0.1).log()).item() / 2) < 0.1


def _cpu_seconds(fn, repeats=3):
    start = time.process_time()
    for _ in range(repeats):
        fn()
    return time.process_time() - start


@pytest.mark.parametrize(("mode", "chunk", "lengths", "bsz"), [("sequential", 64, (256, 512), 1),
                                                                ("chunked", 16, (1024, 2048), 2)])
def test_scan_time_is_linear_in_length(mode, chunk, lengths, bsz):
    """Doubling L roughly doubles the time (the card's loose 1.5-3x bound): single-thread CPU time of L and 2L in
    alternating rounds, the median of the per-round ratios (robust to a machine whose load changes)."""
    data = [inputs(bsz=bsz, length=n, width=16, n=8, dtype=torch.float32) for n in lengths]
    calls = [lambda d=d: selective_scan(*d, mode=mode, chunk=chunk) for d in data]
    ratios = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            for call in calls:
                call()
            for _ in range(5):
                short, long = (_cpu_seconds(c) for c in calls)
                ratios.append(long / short)
    finally:
        torch.set_num_threads(threads)
    ratio = statistics.median(ratios)
    assert 1.5 <= ratio <= 3.0, f"{mode}: time x{ratio:.2f} when L doubles (rounds: {ratios})"
