"""Configs of the rnn-review components (torch-free: discovery, ``forwardkit show`` and validation import this).

Notation of the survey (Lipton, Berkowitz & Elkan 2015, arXiv 1506.00019): ``x(t)`` input, ``h(t)`` hidden
state, ``s(t)`` LSTM internal state, ``sigma`` the logistic sigmoid, ``phi`` tanh. Defaults are the card's:
hidden = C, one layer, zero initial state, forget-gate bias 1.0, orthogonal ``W^{hh}`` for the Elman RNN.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from forwardkit.config import ComponentConfig, TokenMixerConfig, TokenMixerSpec
from forwardkit.data.config import SplitConfig

Backend = Literal["reference", "torch"]
Scan = Literal["raster", "none"]


class RecurrentMixerConfig(TokenMixerConfig):
    """Fields every recurrent token mixer has (Elman, LSTM, GRU)."""

    hidden: int | None = Field(
        None, ge=1, description="hidden units H; None: H = C (shape-preserving); otherwise a Linear(H, C) maps "
        "the hidden states back to C channels")
    backend: Backend = Field(
        "reference", description="'reference': the paper's equations, one Python step per token; 'torch': "
        "PyTorch's fused nn.RNN/nn.LSTM/nn.GRU kernel on the same parameters (only where it computes the same "
        "function)")
    scan: Scan = Field(
        "none", description="'none': sequences (B, N, C) only; 'raster': also grids of rank 2/3, read in "
        "row-major (raster) order as one sequence (a forwardkit convenience, not a claim of the survey)")


class ElmanRNNConfig(RecurrentMixerConfig):
    """Elman / simple RNN (survey sec. 3): ``h(t) = sigma_h(W^{hx} x(t) + W^{hh} h(t-1) + b_h)``."""

    activation: Literal["tanh", "sigmoid", "relu"] = Field(
        "tanh", description="sigma_h; the survey writes a sigmoid-type unit, tanh is the card's default "
        "('torch' backend: tanh or relu, which nn.RNN offers)")
    init: Literal["orthogonal", "default"] = Field(
        "orthogonal", description="W^{hh}: 'orthogonal' (a random orthogonal matrix times recurrent_gain) or "
        "'default' (PyTorch's U(-1/sqrt(H), 1/sqrt(H)), like W^{hx} and b_h)")
    recurrent_gain: float = Field(
        1.0, gt=0.0, description="spectral radius of the orthogonal W^{hh} at init (init='orthogonal' only)")

    @model_validator(mode="after")
    def _torch_kernel(self) -> ElmanRNNConfig:
        if self.backend == "torch" and self.activation == "sigmoid":
            raise ValueError("backend='torch' needs activation tanh or relu (nn.RNN has no sigmoid unit); use "
                             "backend='reference'")
        return self


class LSTMConfig(RecurrentMixerConfig):
    """LSTM with forget gates (survey sec. 4.1): gates i, f, o, input node g, internal state s, output h."""

    peephole: bool = Field(
        False, description="peephole connections: s(t-1) feeds the i and f gates and s(t) the o gate through "
        "diagonal weights")
    state_activation: Literal["tanh", "identity"] = Field(
        "tanh", description="h(t) = phi(s(t)) * o(t) ('tanh') or s(t) * o(t) ('identity', a variant the survey "
        "mentions)")
    forget_gate: bool = Field(
        True, description="False: the 1997 cell without forget gate, s(t) = g(t) * i(t) + s(t-1) (f = 1, the "
        "constant error carousel)")
    forget_bias: float | None = Field(
        1.0, description="initial forget-gate bias b_f (Jozefowicz et al. 2015); None: PyTorch's uniform init "
        "like every other bias; ignored without a forget gate")

    @model_validator(mode="after")
    def _torch_kernel(self) -> LSTMConfig:
        if self.backend == "torch" and (self.peephole or self.state_activation != "tanh" or not self.forget_gate):
            raise ValueError("backend='torch' computes only the plain LSTM (no peepholes, state_activation tanh, "
                             "a forget gate); use backend='reference'")
        return self


class GRUConfig(RecurrentMixerConfig):
    """Gated recurrent unit (Cho et al. 2014; the survey does not give its equations)."""

    reset_position: Literal["after_matmul", "before_matmul"] = Field(
        "after_matmul", description="'after_matmul' (PyTorch): n = phi(W_n x + b_n + r * (U_n h + b_hn)); "
        "'before_matmul' (Cho et al. 2014): n = phi(W_n x + U_n (r * h) + b_n); different functions")

    @model_validator(mode="after")
    def _torch_kernel(self) -> GRUConfig:
        if self.backend == "torch" and self.reset_position != "after_matmul":
            raise ValueError("backend='torch' (nn.GRU) applies the reset gate after the recurrent matmul; "
                             "use reset_position='after_matmul' or backend='reference'")
        return self


class BidirectionalConfig(TokenMixerConfig):
    """Bidirectional RNN (survey sec. 4.2): a left-to-right and a right-to-left recurrent layer, merged."""

    inner: TokenMixerSpec = Field(
        default_factory=lambda: TokenMixerSpec.parse("lstm_mixer"),
        description="the causal recurrent mixer run in each direction (built twice, with dim = C)")
    merge: Literal["concat_linear", "sum"] = Field(
        "concat_linear", description="'concat_linear': Linear(2C, C) of [h(t); z(t)] (the survey's W^{yh} h(t) + "
        "W^{yz} z(t) + b_y); 'sum': h(t) + z(t)")
    share_weights: bool = Field(
        False, description="one inner mixer for both directions (test-only: with merge='sum' the wrapper then "
        "commutes with time reversal)")
    scan: Scan = Field("none", description="'none': sequences only; 'raster': also grids of rank 2/3, read in "
                       "row-major order as one sequence")


class TruncatedBPTTConfig(ComponentConfig):
    """Truncated backpropagation through time (survey sec. 3.2; Williams & Peng 1990)."""

    k: int = Field(50, ge=1, description="window length: the state is carried across windows, detached, so no "
                   "gradient crosses a window boundary")
    clip_norm: float | None = Field(1.0, gt=0.0, description="clip the global gradient norm (None: off)")
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="sgd only")
    betas: tuple[float, float] = Field((0.9, 0.999), description="adam / adamw")
    weight_decay: float = Field(0.0, ge=0.0)


class AddingProblemConfig(ComponentConfig):
    """The adding problem (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015 / Arjovsky et al. 2016)."""

    length: int = Field(50, ge=2, description="sequence length T (the card's setup A: 50; 100 for the harder run)")
    num_train: int = Field(8000, ge=1)
    num_val: int = Field(1000, ge=1)
    num_test: int = Field(1000, ge=1)
    seed: int = Field(0, ge=0, description="seed of the generator (every split from one stream)")


class TwoSidedTaggingConfig(ComponentConfig):
    """Random bits tagged with ``y(t) = x(t - k) XOR x(t + k)``: a label needs the past and the future."""

    length: int = Field(40, ge=3, description="sequence length")
    lag: int = Field(3, ge=1, description="k: the label reads the bits k steps back and k steps ahead")
    num_train: int = Field(8000, ge=1)
    num_val: int = Field(1000, ge=1)
    num_test: int = Field(1000, ge=1)
    seed: int = Field(0, ge=0, description="seed of the generator (every split from one stream)")

    @model_validator(mode="after")
    def _room(self) -> TwoSidedTaggingConfig:
        if self.length <= 2 * self.lag:
            raise ValueError(f"length must exceed 2 * lag (got length {self.length}, lag {self.lag}): otherwise "
                             "no position sees both of its bits")
        return self


class SequentialDigitsConfig(SplitConfig):
    """Digit images read row by row: an ``H x W`` image becomes ``H`` steps of ``W`` features."""

    source: Literal["digits", "mnist5k"] = Field(
        "digits", description="'digits': scikit-learn's 1797 8x8 digits (8 steps of 8); 'mnist5k': 5000 real "
        "MNIST digits (28 steps of 28), both from forwardkit-datasets")
    normalize: Literal["none", "unit", "standardize"] = Field(
        "unit", description="passed to the source dataset: 'unit' scales pixels to [0, 1]")


class SequenceTaggingConfig(ComponentConfig):
    """Per-position classification: logits ``(B, L, K)`` against labels ``(B, L)``."""

    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)


class RNNSequenceModelConfig(ComponentConfig):
    """Input Linear, ``depth`` pre-norm blocks (recurrent mixer + MLP, MetaFormer-style), a head per task."""

    in_channels: int = Field(2, ge=1, description="features per step (filled from the data)")
    num_classes: int = Field(1, ge=1, description="outputs: classes, or 1 for a scalar regression (filled from "
                             "the data)")
    task: Literal["last_step_regression", "sequence_classification", "tagging"] = Field(
        "last_step_regression", description="head: the last step's state to num_classes outputs (regression or "
        "classification), or every step's (tagging); filled from the data's task")
    dim: int = Field(64, ge=1, description="width C of the blocks (the recurrent hidden size unless the mixer "
                     "sets hidden)")
    depth: int = Field(1, ge=1, description="number of blocks")
    token_mixer: TokenMixerSpec = Field(
        default_factory=lambda: TokenMixerSpec.parse("lstm_mixer"),
        description="the mixer of every block (any token mixer; truncated_bptt needs one of this plugin's "
        "unidirectional recurrent mixers)")
    mlp_ratio: float = Field(4.0, ge=0.0, description="hidden width of each block's MLP over C; 0: no MLP branch")
    norm: Literal["layernorm", "layernorm_nobias", "rmsnorm", "identity"] = Field(
        "layernorm", description="the pre-norm of both branches and the final norm")
    example_length: int = Field(12, ge=1, description="sequence length of example_batch()")
