"""Registration of the model-free-ff components (no torch import here: only import paths)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(title="Backpropagation-free Training of Deep Physical Neural Networks", arxiv="2304.11042",
              url="https://arxiv.org/abs/2304.11042", year=2023)
PAT = Paper(title="Deep physical neural networks trained with backpropagation (physics-aware training)",
            arxiv="2104.13386", url="https://arxiv.org/abs/2104.13386", year=2022)
_PKG = "forwardkit_model_free_ff"
_CFG = f"{_PKG}.config"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    add = registry.add
    add("adapter", "physical_layer", target=f"{_PKG}.physical:PhysicalLayer", config=f"{_CFG}:PhysicalLayerConfig",
        paper=PAPER, functional=f"{_PKG}.physical:black_box",
        summary="wraps any callable or frozen module as a physical black box: no_grad, detached, query-counted")
    add("model", "simulated_optical", target=f"{_PKG}.optics:SimulatedOpticalLayer",
        config=f"{_CFG}:SimulatedOpticalConfig", paper=PAPER, functional=f"{_PKG}.optics:optical_response",
        summary="simulated optical layer |A x| (or |A x|^2, saturable) with a fixed complex Gaussian A, noise, drift")
    add("model", "hybrid_pnn", target=f"{_PKG}.model:HybridPNN", config=f"{_CFG}:HybridPNNConfig", paper=PAPER,
        summary="deep physical network: K blocks of (black-box physics -> Linear -> act), C-pass goodness argmax")
    add("model", "physical_readout", target=f"{_PKG}.model:PhysicalReadout", config=f"{_CFG}:PhysicalReadoutConfig",
        paper=PAPER, summary="random-feature baseline: a linear classifier on one physical layer's measured output")
    add("learning_rule", "model_free_ff", target=f"{_PKG}.rule:ModelFreeFF", config=f"{_CFG}:ModelFreeFFConfig",
        paper=PAPER, functional=f"{_PKG}.goodness:ff_pairwise_loss",
        summary="model-free forward-forward: each Linear trained alone on softplus(-alpha (g_pos - g_neg))")
    add("learning_rule", "insilico_bp", target=f"{_PKG}.baselines:InSilicoBP", config=f"{_CFG}:InSilicoBPConfig",
        paper=PAPER, functional=f"{_PKG}.baselines:pairwise_objective",
        summary="baseline: end-to-end backprop through the differentiable simulated physics (a perfect model)")
    add("learning_rule", "physics_aware_training", target=f"{_PKG}.baselines:PhysicsAwareTraining",
        config=f"{_CFG}:PhysicsAwareTrainingConfig", paper=PAT,
        summary="baseline PAT: forward through the black box, backward through digital twins fitted on probes")
    add("callback", "physics_drift", target=f"{_PKG}.drift:PhysicsDrift", config=f"{_CFG}:PhysicsDriftConfig",
        paper=PAPER, functional=f"{_PKG}.drift:drift_physics",
        summary="perturbs every simulated physical layer once (A + strength * fresh noise) at an epoch end")
    # `forwardkit reproduce model-free-ff` runs this spec (read without torch: a module path, not an object)
    registry.add_reproduction(spec="forwardkit_model_free_ff.reproduction:SPEC")
