"""Registration of this plugin's components (no torch import here: only import paths)."""

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper

PAPER = Paper(title="Sequential Training of Neural Networks with Gradient Boosting", arxiv="1909.12098",
              url="https://github.com/GAA-UAM/GBNN", year=2019)
_PKG = "forwardkit_gradient_boosting_nn"


@hookimpl
def forwardkit_register(registry):
    registry.add(
        "learning_rule",
        "gradient_boosted_head",
        target=f"{_PKG}.rule:GradientBoostedHead",
        config=f"{_PKG}.config:GradientBoostedHeadConfig",
        summary="GB-NN: fits a boosted_mlp's hidden units block by block (J per stage) to the pseudo-residuals, "
        "each stage scaled by eta times a Newton step, from the loss-minimising constant F_0 on",
        paper=PAPER,
        functional=f"{_PKG}.rule:boost",
    )
    registry.add(
        "model",
        "boosted_mlp",
        target=f"{_PKG}.model:BoostedMLP",
        config=f"{_PKG}.config:BoostedMLPConfig",
        summary="the merged GB-NN network Linear(D, T*J) -> act -> Linear(T*J, K), stage t on units [tJ, (t+1)J); "
        "forward(x, n_stages) = the first stages only; optional backbone in front",
        paper=PAPER,
        functional=f"{_PKG}.model:BoostedMLP.from_stages",
    )
    registry.add(
        "compressor",
        "stage_truncation",
        target=f"{_PKG}.truncation:StageTruncation",
        config=f"{_PKG}.config:StageTruncationConfig",
        summary="anytime truncation of a boosted_mlp: keeps the first stages (switches off the last-trained units), "
        "the fewest within tol of the full model's accuracy, with the accuracy/latency curve",
        paper=PAPER,
        functional=f"{_PKG}.truncation:truncate",
    )
    # `forwardkit reproduce gradient-boosting-nn` runs this spec (read without torch: a module path, not an object)
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
