"""Registration of the mambamixer components (import paths only, no torch)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(
    title="MambaMixer: Efficient Selective State Space Models with Dual Token and Channel Selection",
    arxiv="2403.19888",
    url="https://mambamixer.github.io",
    year=2024,
)
_P = "forwardkit_mambamixer"
_C = f"{_P}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("token_mixer", "selective_token_mixer", target=f"{_P}.token_mixer:SelectiveTokenMixer",
        config=f"{_C}:SelectiveTokenMixerConfig", paper=PAPER, functional=f"{_P}.scan:selective_scan",
        summary="Selective Token Mixer: Mamba block with one S6 per scan (1 causal, 2, or 4 cross-scans), "
                "depthwise 3x3 conv on images")
    add("token_mixer", "selective_variate_mixer", target=f"{_P}.variate_mixer:SelectiveVariateMixer",
        config=f"{_C}:SelectiveVariateMixerConfig", paper=PAPER,
        summary="Selective Variate Mixer: bidirectional S6 along one spatial axis (TSM2's variates), any length")
    add("token_mixer", "selective_channel_mixer_paper", target=f"{_P}.channel_mixer:SelectiveChannelMixerPaper",
        config=f"{_C}:SelectiveChannelMixerPaperConfig", paper=PAPER,
        summary="literal Selective Channel Mixer: bidirectional S6 block on x^T (channels as the sequence, "
                "Linear over the fixed token count)")
    add("channel_mixer", "selective_channel_mixer", target=f"{_P}.channel_mixer:SelectiveChannelMixer",
        config=f"{_C}:SelectiveChannelMixerConfig", paper=PAPER,
        summary="per-token channel S6: each token's C channels as a sequence of scalars, bidirectional S6 (pointwise)")
    add("model", "tsm2", target=f"{_P}.tsm2:TSM2", config=f"{_C}:TSM2Config", paper=PAPER,
        summary="TSM2 forecaster: patches, causal selective time mixer + bidirectional selective variate mixer, "
                "weighted averaging, 2-D norm, flatten head")
    add("model", "revin_linear", target=f"{_P}.rlinear:RLinear", config=f"{_C}:RLinearConfig", paper=PAPER,
        summary="RLinear baseline (Li et al. 2023): RevIN + one Linear(lookback -> horizon) shared by the variates")
    add("model", "vim2_tiny", target=f"{_P}.vim2:ViM2Tiny", config=f"{_C}:ViM2TinyConfig", paper=PAPER,
        summary="ViM2 classifier: stem, stages of cross-scan selective token mixers + selective channel mixers "
                "with stage-local weighted averaging (tiny, vim2_t/s/b presets)")
    add("analyzer", "mixing_weights", target=f"{_P}.analyzer:MixingWeightsAnalyzer",
        config=f"{_C}:MixingWeightsConfig", paper=PAPER,
        summary="weighted-averaging coefficients alpha, beta, theta, gamma per layer and their share on early "
                "features")
    add("dataset", "lagged_mixtures", target=f"{_P}.data:LaggedMixturesDataset", config=f"{_C}:LaggedMixturesConfig",
        paper=PAPER, functional=f"{_P}.data:lagged_mixtures",
        summary="synthetic forecasting (card Setup A): 2 AR(2)+sinusoid drivers, lagged noisy mixtures, noise variates")
    registry.add_reproduction(spec=f"{_P}.reproduction:SPEC")
