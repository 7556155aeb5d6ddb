"""Registration of the rnn-review components (no torch import here: only import paths)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(title="A Critical Review of Recurrent Neural Networks for Sequence Learning", arxiv="1506.00019",
              url="https://arxiv.org/abs/1506.00019", year=2015)
_P = "forwardkit_rnn_review"
_CFG = f"{_P}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("token_mixer", "elman_rnn_mixer", target=f"{_P}.elman:ElmanRNNMixer", config=f"{_CFG}:ElmanRNNConfig",
        paper=PAPER, functional=f"{_P}.elman:elman_reference",
        summary="Elman RNN h(t) = tanh(W^hx x(t) + W^hh h(t-1) + b) over the (raster-ordered) tokens, causal; "
        "reference loop or nn.RNN")
    add("token_mixer", "lstm_mixer", target=f"{_P}.lstm:LSTMMixer", config=f"{_CFG}:LSTMConfig", paper=PAPER,
        functional=f"{_P}.lstm:lstm_reference",
        summary="LSTM with forget gates (survey sec. 4.1; peephole, no-forget-gate and s*o variants), causal; "
        "reference loop or nn.LSTM")
    add("token_mixer", "gru_mixer", target=f"{_P}.gru:GRUMixer", config=f"{_CFG}:GRUConfig", paper=PAPER,
        functional=f"{_P}.gru:gru_reference",
        summary="GRU (Cho et al. 2014; reset gate after the matmul as PyTorch, or before it as Cho), causal; "
        "reference loop or nn.GRU")
    add("token_mixer", "bidirectional_mixer", target=f"{_P}.bidirectional:BidirectionalMixer",
        config=f"{_CFG}:BidirectionalConfig", paper=PAPER, functional=f"{_P}.bidirectional:bidirectional",
        summary="bidirectional RNN (survey sec. 4.2): a causal mixer left-to-right and a copy right-to-left, "
        "merged by Linear(2C, C) or a sum; not causal")
    add("learning_rule", "truncated_bptt", target=f"{_P}.tbptt:TruncatedBPTT", config=f"{_CFG}:TruncatedBPTTConfig",
        paper=PAPER, functional=f"{_P}.tbptt:truncated_bptt_backward",
        summary="truncated BPTT: windows of k steps, the recurrent state carried detached (no gradient across a "
        "window boundary), clipped Adam")
    add("dataset", "adding_problem", target=f"{_P}.adding:AddingProblemDataset", config=f"{_CFG}:AddingProblemConfig",
        paper=PAPER, functional=f"{_P}.adding:make_adding_problem",
        summary="adding problem: (u ~ U(0,1), marker) per step, two markers (one per half), target the sum of "
        "the marked u (trivial MSE 1/6)")
    add("dataset", "two_sided_tagging", target=f"{_P}.tagging:TwoSidedTaggingDataset",
        config=f"{_CFG}:TwoSidedTaggingConfig", paper=PAPER, functional=f"{_P}.tagging:make_two_sided_tagging",
        summary="random bits tagged y(t) = x(t-k) XOR x(t+k): a tagger needs the past and the future")
    add("dataset", "sequential_digits", target=f"{_P}.digits:SequentialDigitsDataset",
        config=f"{_CFG}:SequentialDigitsConfig", paper=PAPER, functional=f"{_P}.digits:rows_as_steps",
        summary="digit images read row by row (sklearn digits: 8 steps of 8 features; mnist5k: 28 of 28)")
    add("task", "sequence_tagging", target=f"{_P}.task:SequenceTagging", config=f"{_CFG}:SequenceTaggingConfig",
        paper=PAPER,
        summary="per-position classification: logits (B, L, K) vs labels (B, L), CE, accuracy per position")
    add("model", "rnn_sequence_model", target=f"{_P}.model:RNNSequenceModel", config=f"{_CFG}:RNNSequenceModelConfig",
        paper=PAPER, summary="input Linear -> pre-norm blocks (recurrent mixer + MLP) -> head on the last step "
        "(regression, classification) or on every step (tagging); streams state for truncated BPTT")
    registry.add_reproduction(spec=f"{_P}.reproduction:SPEC")
