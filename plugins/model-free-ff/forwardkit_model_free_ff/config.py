"""Configs of the model-free-ff components (torch-free: discovery, ``forwardkit show`` and validation import it).

Defaults are the official code's (MomeniAli/PhyLL, acoustic experiment) unless a field says otherwise.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from forwardkit.config import ComponentConfig, ModelSpec
from forwardkit.errors import ForwardkitError

NormalizeInput = Literal["none", "l2_abs"]
Activation = Literal["abs", "gelu", "relu"]
Goodness = Literal["cosine_to_random", "sum_squares"]
LabelInjection = Literal["overlay_first_C", "append_onehot"]
Objective = Literal["ff_pairwise", "cross_entropy"]


def _physics_spec(value: Any) -> dict[str, Any]:
    """A registered model's name or ``{name: ..., **config}``, validated against the registry and kept as the
    mapping of the fields it gives (a plain mapping in the JSON schema: a nested ModelSpec there would expand
    every model's config inside every model's config)."""
    try:
        spec = ModelSpec.parse(value)
    except ForwardkitError as exc:
        raise ValueError(str(exc)) from None
    return spec.to_dict(exclude_unset=True)


#: the black box of a physical layer: a registered model (simulated_optical, or your own) as name or mapping
PhysicsSpec = Annotated[dict[str, Any], BeforeValidator(_physics_spec)]


def _physics_default() -> dict[str, Any]:
    return {"name": "simulated_optical"}


class PhysicalLayerConfig(ComponentConfig):
    """How a black box (any callable, or a frozen ``nn.Module``) is queried as a physical layer."""

    normalize_input: NormalizeInput = Field(
        "none", description="'l2_abs': the black box sees |h| / ||h||_2 (the acoustic code's encoding); 'none': h")
    skip_concat: bool = Field(
        False, description="the layer returns concat([Phys(h), h]) (the acoustic code's skip: width out + in)")
    interface: Literal["torch", "numpy"] = Field(
        "torch", description="'torch': the black box gets and returns tensors; 'numpy': float arrays (converted "
        "back to the input's dtype and device)")
    target: str | None = Field(
        None, description="apply(): the dotted name of the submodule of the given model to turn into a black box "
        "(e.g. 'physics.0'); None: the whole model")


class SimulatedOpticalConfig(ComponentConfig):
    """A software stand-in for a multimode-fibre / scattering-medium layer: ``|A x|`` with a fixed complex
    Gaussian transmission matrix ``A`` (``out_dim x in_features``, entries CN(0, 1 / in_features))."""

    context_fields = ("in_features",)

    in_features: int = Field(64, ge=1, description="input width D (set by the model holding the layer)")
    out_dim: int = Field(256, ge=1, description="number of detected output modes (speckle grains)")
    kind: Literal["amplitude", "intensity", "saturable"] = Field(
        "amplitude", description="'amplitude': |A x|; 'intensity': I = |A x|^2; 'saturable': I / (1 + I / i_sat)")
    i_sat: float = Field(1.0, gt=0.0, description="saturation intensity of 'saturable'")
    noise_std: float = Field(
        0.0, ge=0.0, description="additive detection noise: std as a fraction of each sample's mean detected "
        "signal (0.01 = 1 %); drawn from (seed, call count), so runs resume exactly")
    seed: int | None = Field(
        None, ge=0, description="seed of the transmission matrix A and of the detection noise; None: the holder "
        "chooses (hybrid_pnn gives block k physics_seed + k), 0 when the layer is used on its own")


class HybridPNNConfig(ComponentConfig):
    """K blocks of (physical black box -> trainable Linear -> activation); prediction by the goodness of each
    candidate label overlaid on the input (C passes through every physical layer).

    Inference settings (activation, goodness, label overlay, patterns) live here because the model's own
    forward computes the candidate scores that evaluation reads, whatever rule trained it.
    """

    in_features: int = Field(64, ge=1, description="flattened input width D (filled from the dataset)")
    num_classes: int = Field(10, ge=2, description="number of classes C (filled from the dataset)")
    num_blocks: int = Field(2, ge=1, le=8, description="number of (physics -> Linear) blocks K")
    hidden: int | None = Field(
        None, ge=1, description="output width of every trainable Linear; None: the physical layer's output width")
    physics: PhysicsSpec = Field(
        default_factory=_physics_default,
        description="the black box of every block: any registered model taking (B, in_features) to (B, M) "
        "(simulated_optical, or your own); built per block with in_features set, then wrapped as a physical_layer")
    physics_seed: int | None = Field(
        None, ge=0, description="block k's physics gets seed physics_seed + k (when its config has a seed field "
        "left at None); None: drawn from torch's generator, i.e. from the experiment seed")
    normalize_input: NormalizeInput = Field("none", description="encoding of every block's input to its physics")
    skip_concat: bool = Field(False, description="block input to the Linear is concat([Phys(h), h]) (acoustic code)")
    activation: Activation = Field(
        "abs", description="act(W z): abs in the physical experiments, gelu in the digital-only demo")
    goodness: Goodness = Field(
        "cosine_to_random", description="'cosine_to_random': cos(act(W z), p_k) with a fixed random unit p_k "
        "(the code); 'sum_squares': sum_j act_j^2 (Hinton's FF)")
    label_injection: LabelInjection = Field(
        "overlay_first_C", description="'overlay_first_C': zero the first C inputs, set entry y to the overlay "
        "value (the code); 'append_onehot': C label slots in front of the input (the acoustic code's zero padding)")
    overlay_value: Literal["batch_max_abs"] | float = Field(
        "batch_max_abs", description="value written into the label slot: max |x| over the batch (the code), or a "
        "number")
    pattern_seed: int = Field(0, ge=0, description="seed of the fixed random goodness directions p_k")
    pass_activation: bool = Field(
        False, description="the next block gets act(W z) instead of W z (the code passes the pre-activation)")

    @model_validator(mode="after")
    def _check(self) -> HybridPNNConfig:
        if self.label_injection == "overlay_first_C" and self.in_features < self.num_classes:
            raise ValueError(f"overlay_first_C needs in_features >= num_classes ({self.in_features} < "
                             f"{self.num_classes}); use label_injection: append_onehot")
        return self


class PhysicalReadoutConfig(ComponentConfig):
    """The random-feature baseline: a trainable linear classifier on one physical layer's output."""

    in_features: int = Field(64, ge=1, description="flattened input width D (filled from the dataset)")
    num_classes: int = Field(10, ge=2, description="number of classes C (filled from the dataset)")
    physics: PhysicsSpec = Field(default_factory=_physics_default, description="the black box (as in hybrid_pnn)")
    physics_seed: int | None = Field(
        None, ge=0, description="as hybrid_pnn: the same value (or the same experiment seed) gives the same "
        "physics as hybrid_pnn's first block")
    normalize_input: NormalizeInput = Field("none", description="encoding of the input to the physics")


class ModelFreeFFConfig(ComponentConfig):
    """Model-free forward-forward: each block's Linear is trained alone on its own pairwise goodness loss."""

    alpha: float = Field(4.0, gt=0.0, description="slope of softplus(-alpha (g_pos - g_neg)) (the code's threshold)")
    inner_steps: int = Field(10, ge=1, description="Adam steps of each block on the same (pos, neg) batch")
    lr: float = Field(5e-4, gt=0.0, description="Adam learning rate of every block")
    weight_decay: float = Field(0.0, ge=0.0, description="Adam L2 weight decay")
    seed: int = Field(0, ge=0, description="seed of the negative labels")


class InSilicoBPConfig(ComponentConfig):
    """End-to-end backprop through a differentiable simulation of the physics (a perfect model of it)."""

    objective: Objective = Field(
        "ff_pairwise", description="'ff_pairwise': the sum over blocks of the method's own pairwise loss, "
        "differentiated end to end; 'cross_entropy': cross-entropy of alpha x the candidate scores (C passes)")
    alpha: float = Field(4.0, gt=0.0, description="slope of the pairwise loss / scale of the candidate logits")
    inner_steps: int = Field(10, ge=1, description="Adam steps on each batch (10: as many updates as model_free_ff)")
    lr: float = Field(5e-4, gt=0.0, description="Adam learning rate")
    weight_decay: float = Field(0.0, ge=0.0, description="Adam L2 weight decay")
    seed: int = Field(0, ge=0, description="seed of the negative labels")


class PhysicsAwareTrainingConfig(InSilicoBPConfig):
    """Physics-aware training (Wright et al. 2022): the forward pass through the black box, the backward pass
    through a digital twin MLP fitted on ``n_probe`` measured input/output pairs per physical layer."""

    n_probe: int = Field(2000, ge=2, description="measured input/output pairs per twinned physical layer")
    twin_hidden: int = Field(256, ge=1, description="width of the twin MLP's hidden layers")
    twin_layers: int = Field(2, ge=1, le=4, description="hidden layers of the twin MLP (GELU)")
    twin_steps: int = Field(500, ge=1, description="full-batch Adam steps of each twin fit")
    twin_lr: float = Field(1e-3, gt=0.0, description="Adam learning rate of the twin fit")
    probe_jitter: float = Field(
        0.1, ge=0.0, description="probes: the layer's current inputs resampled, plus Gaussian noise of this many "
        "per-feature stds")
    refit_every: int = Field(0, ge=0, description="refit the twins every this many epochs (0: only once, at the "
                             "first step: a twin that goes stale when the physics drifts)")


class PhysicsDriftConfig(ComponentConfig):
    """An unpredictable perturbation of the physics: at the end of epoch ``at_epoch`` every simulated layer's
    transmission matrix becomes ``A' = A + strength * fresh noise`` (same distribution as A)."""

    at_epoch: int = Field(75, ge=1, description="drift after this many epochs")
    strength: float = Field(0.3, ge=0.0, description="scale of the fresh noise added to A")
    seed: int = Field(0, ge=0, description="seed of the fresh noise (block k uses seed + k)")
