"""Typed configuration: component configs, component specs ``{name: ..., **config}`` and ``Experiment``.

Torch-free. By role:

- :mod:`.base`: :class:`ComponentConfig`, the base of every component's Config (unknown fields are
  errors, reported with every other problem of the same config), :func:`resolve_config`, and the
  mixer configs :class:`TokenMixerConfig` / :class:`ChannelMixerConfig`;
- :mod:`.spec`: :class:`ComponentSpec` and its kinds (``TokenMixerSpec``, ``ModelSpec``, ...), which
  name a registered component and carry its validated Config; specs nest;
- :mod:`.experiment`: :class:`TrainerConfig`, :class:`Experiment` and the entry points
  :func:`validate_experiment` / :func:`load_experiment`;
- :mod:`.issues`: pydantic errors as :class:`~forwardkit.errors.ConfigIssue` lists with full field
  paths, e.g. ``model.token_mixers.2.head_dim: Input should be greater than or equal to 1``.
"""

from forwardkit.config.base import ChannelMixerConfig, ComponentConfig, TokenMixerConfig, resolve_config
from forwardkit.config.experiment import (
    Experiment,
    TestTimeConfig,
    TrainerConfig,
    experiment_json_schema,
    load_experiment,
    read_mapping,
    validate_experiment,
)
from forwardkit.config.issues import issues_from_validation
from forwardkit.config.spec import (
    SPEC_TYPES,
    AdapterSpec,
    AnalyzerSpec,
    CallbackSpec,
    ChannelMixerSpec,
    ComponentSpec,
    CompressorSpec,
    DatasetSpec,
    LearningRuleSpec,
    ModelSpec,
    TaskSpec,
    TokenMixerSpec,
    input_fields,
    instantiate,
)
from forwardkit.config.stages import MultiStageExperiment, StageConfig

__all__ = [
    "SPEC_TYPES",
    "AdapterSpec",
    "AnalyzerSpec",
    "CallbackSpec",
    "ChannelMixerConfig",
    "ChannelMixerSpec",
    "ComponentConfig",
    "ComponentSpec",
    "CompressorSpec",
    "DatasetSpec",
    "Experiment",
    "LearningRuleSpec",
    "ModelSpec",
    "MultiStageExperiment",
    "StageConfig",
    "TaskSpec",
    "TestTimeConfig",
    "TokenMixerConfig",
    "TokenMixerSpec",
    "TrainerConfig",
    "experiment_json_schema",
    "input_fields",
    "instantiate",
    "issues_from_validation",
    "load_experiment",
    "read_mapping",
    "resolve_config",
    "validate_experiment",
]
