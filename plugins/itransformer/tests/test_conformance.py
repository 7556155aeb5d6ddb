"""The conformance kit on every component of the plugin, and the registration."""

import forwardkit
from forwardkit.testing import make_conformance_test

test_conformance = make_conformance_test(plugin="itransformer")


def test_components_are_registered_with_the_paper():
    reg = forwardkit.get_registry()
    for kind, name in [("model", "itransformer"), ("model", "temporal_transformer"), ("model", "rlinear"),
                       ("dataset", "lagged_multivariate"), ("callback", "partial_variate_training"),
                       ("analyzer", "variate_attention"), ("task", "forecasting_horizons")]:
        info = reg.get(kind, name)
        assert info.plugin == "itransformer"
        assert info.paper is not None and info.paper.arxiv == "2310.06625"


def test_reproduction_spec_validates():
    from forwardkit_itransformer.reproduction import SPEC

    from forwardkit.config import validate_experiment

    for arm in SPEC.arms:
        if SPEC.program(arm) is not None:
            _, config = SPEC.program_config(arm)
            validate_experiment(config["experiment"])
            continue
        validate_experiment(SPEC.experiment(arm, 0))
        validate_experiment(SPEC.experiment(arm, 0, smoke=True))
