"""Registration of the neuro-hebbian components (no torch import here: only import paths)."""

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper

PAPER = Paper(title="Neuro-Modulated Hebbian Learning for Fully Test-Time Adaptation", arxiv="2303.00914", year=2023)
_PKG = "forwardkit_neuro_hebbian"


@hookimpl
def forwardkit_register(registry):
    rule = f"{_PKG}.rule"
    cfg = f"{_PKG}.config"
    registry.add(
        "learning_rule", "nhl", target=f"{rule}:NHLTestTimeRule", config=f"{cfg}:NHLConfig",
        summary="test-time rule: per test batch, a soft Hebbian (softmax lateral inhibition, Oja) update of the "
        "early layer, then one entropy step on the neuro-modulator, then the prediction (name it under test_time)",
        paper=PAPER, functional=f"{_PKG}.hebbian:soft_hebbian_update_",
    )
    registry.add(
        "learning_rule", "hebbian_only", target=f"{rule}:HebbianOnly", config=f"{cfg}:HebbianOnlyConfig",
        summary="NHL ablation: the soft Hebbian early layer with test-batch statistics, no neuro-modulator step",
        paper=PAPER, functional=f"{_PKG}.hebbian:soft_hebbian_update_",
    )
    registry.add(
        "learning_rule", "modulator_only", target=f"{rule}:ModulatorOnly", config=f"{cfg}:ModulatorOnlyConfig",
        summary="NHL ablation: entropy minimisation on the neuro-modulator only, no Hebbian step",
        paper=PAPER, functional=f"{rule}:entropy",
    )
    registry.add(
        "learning_rule", "bn_adapt", target=f"{rule}:BNAdapt", config=f"{cfg}:BNAdaptConfig",
        summary="test-time baseline: batch norms on the test batch's statistics, no parameter update",
        paper=PAPER,
    )
    registry.add(
        "learning_rule", "source_only", target=f"{rule}:SourceOnly", config=f"{cfg}:SourceOnlyConfig",
        summary="test-time baseline: the unadapted source model (source statistics, no update)",
        paper=PAPER,
    )
    registry.add(
        "adapter", "neuro_modulator", target=f"{_PKG}.modulator:NeuroModulatorAdapter",
        config=f"{cfg}:NeuroModulatorConfig",
        summary="inserts NHL's neuro-modulator (per-channel affine, batch norm or 1x1 conv, identity at init) after "
        "the model's early layer (after the norm that follows it)",
        paper=PAPER, functional=f"{_PKG}.modulator:apply_neuro_modulator",
    )
    registry.add(
        "model", "nhl_cnn", target=f"{_PKG}.cnn:NHLCNN", config=f"{cfg}:NHLCNNConfig",
        summary="the NHL card's reference CNN: conv3x3-BN-ReLU-maxpool stages (16, 32), average pool, linear",
        paper=PAPER,
    )
    # `forwardkit reproduce neuro-hebbian` runs this spec (read without torch: a module path, not an object)
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
