"""Registration of the S-KAN components (light: import paths only, no torch)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(
    title="Activation Space Selectable Kolmogorov-Arnold Networks",
    arxiv="2408.08338",
    url="https://arxiv.org/abs/2408.08338",
    year=2024,
)
_PKG = "forwardkit_s_kan"
_CFG = f"{_PKG}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("channel_mixer", "kan_ffn", target=f"{_PKG}.mixers:KANFFN", config=f"{_CFG}:KANFFNConfig",
        summary="token-wise KAN d -> h -> d with one activation space (B-spline, Chebyshev, RBF, Fourier, wavelet)",
        paper=PAPER, functional=f"{_PKG}.layers:KANLayer")
    add("channel_mixer", "skan_ffn", target=f"{_PKG}.mixers:SKANFFN", config=f"{_CFG}:SKANFFNConfig",
        summary="S-KAN feed-forward: every node mixes a pool of activation spaces with learned selection weights",
        paper=PAPER, functional=f"{_PKG}.layers:SKANLayer")
    add("callback", "skan_phase_schedule", target=f"{_PKG}.schedule:SKANPhaseSchedule",
        config=f"{_CFG}:SKANPhaseScheduleConfig",
        summary="S-KAN's three phases: full training, top-K selective training, pruning + fine-tune",
        paper=PAPER, functional=f"{_PKG}.schedule:phase_at")
    add("compressor", "skan_prune", target=f"{_PKG}.prune:SKANPrune", config=f"{_CFG}:SKANPruneConfig",
        summary="removes the unselected activation spaces of every S-KAN layer; exact, measured before/after",
        paper=PAPER, functional=f"{_PKG}.prune:prune_skan")
    add("model", "skan_regressor", target=f"{_PKG}.model:SKANRegressor", config=f"{_CFG}:SKANRegressorConfig",
        summary="[d, h, out] KAN for function fitting: S-KAN over a pool, or one activation space",
        paper=PAPER)
    add("model", "s_convkan_net", target=f"{_PKG}.model:SConvKANNet", config=f"{_CFG}:SConvKANNetConfig",
        summary="S-ConvKAN classifier: two KAN convolutions with per-channel activation-space selection, "
                "pooling, linear head",
        paper=PAPER, functional=f"{_PKG}.conv:SConvKAN2d")
    add("dataset", "kan_function_suite", target=f"{_PKG}.data:KANFunctionSuite",
        config=f"{_CFG}:KANFunctionSuiteConfig",
        summary="seven synthetic function-fitting targets on [-1, 1]^d (Bessel, products, kinks, Runge, ...)",
        paper=PAPER, functional=f"{_PKG}.data:make_task")
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
