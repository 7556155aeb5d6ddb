"""Registration of the dann components (no torch import here: only import paths)."""

from __future__ import annotations

from forwardkit.hookspecs import hookimpl
from forwardkit.registry import Paper, Registrar

PAPER = Paper(
    title="Domain-Adversarial Training of Neural Networks",
    arxiv="1505.07818",
    year=2016,
    url="https://jmlr.org/papers/v17/15-239.html",
)
_PKG = "forwardkit_dann"


@hookimpl
def forwardkit_register(registry: Registrar) -> None:
    registry.add(
        "channel_mixer",
        "gradient_reversal",
        target=f"{_PKG}.grl:GradientReversal",
        config=f"{_PKG}.config:GradientReversalConfig",
        summary="gradient reversal layer R_lambda: identity forward, -lambda times the gradient backward "
        "(eq. 16-17); lambda settable per step",
        paper=PAPER,
        functional=f"{_PKG}.grl:grad_reverse",
    )
    registry.add(
        "adapter",
        "domain_adversarial_head",
        target=f"{_PKG}.head:DomainAdversarialHead",
        config=f"{_PKG}.config:DomainAdversarialHeadConfig",
        summary="attaches a domain classifier GRL -> MLP -> 1 logit at a backbone's feature tap (a module name); "
        "batches with target rows give label and domain logits from one forward pass",
        paper=PAPER,
        functional=f"{_PKG}.head:attach_domain_head",
    )
    registry.add(
        "learning_rule",
        "dann",
        target=f"{_PKG}.rule:DANNRule",
        config=f"{_PKG}.config:DannRuleConfig",
        summary="joint SGD: label loss on source rows + domain loss on source and unlabelled target rows through "
        "the GRL, lambda_p = 2/(1+exp(-10p))-1, lr mu0/(1+10p)^0.75, momentum 0.9 (needs trainer.paired)",
        paper=PAPER,
        functional=f"{_PKG}.rule:grl_lambda",
    )
    registry.add(
        "analyzer",
        "proxy_a_distance",
        target=f"{_PKG}.pad:ProxyADistance",
        config=f"{_PKG}.config:ProxyADistanceConfig",
        summary="proxy A-distance PAD = 2(1 - 2 err) (eq. 3) of linear SVMs (sklearn) telling source from target "
        "features at a tap, lowest held-out error over C (sec. 5.1.5)",
        paper=PAPER,
        functional=f"{_PKG}.pad:proxy_a_distance",
    )
    registry.add(
        "model",
        "dann_mnist_cnn",
        target=f"{_PKG}.model:DannMnistCnn",
        config=f"{_PKG}.config:DannMnistCnnConfig",
        summary="the paper's MNIST CNN (Fig. 4a): features = 2 x [conv5x5 (32, 48), ReLU, maxpool] (768-d for "
        "28x28), classifier FC100-FC100-FC10; inputs mean-subtracted",
        paper=PAPER,
    )
    # `forwardkit reproduce dann` runs this spec (read without torch: a module path, not an object)
    registry.add_reproduction(spec=f"{_PKG}.reproduction:SPEC")
