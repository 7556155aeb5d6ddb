"""forwardkit: compose research-paper components (token mixers, learning rules, adapters, ...).

``import forwardkit`` is cheap: it imports neither torch nor any plugin. Names below load on first
use; the registry is filled on first use of :func:`get_registry`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from forwardkit.lazy import lazy_names

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    # composition
    "create": "forwardkit.compose",
    "build_model": "forwardkit.compose",
    "functional": "forwardkit.compose",
    # training
    "run": "forwardkit.engine",
    "run_stages": "forwardkit.engine",
    "Trainer": "forwardkit.engine",
    # configuration
    "Experiment": "forwardkit.config",
    "MultiStageExperiment": "forwardkit.config.stages",
    "TrainerConfig": "forwardkit.config",
    "ComponentConfig": "forwardkit.config",
    "TokenMixerConfig": "forwardkit.config",
    "ChannelMixerConfig": "forwardkit.config",
    "ComponentSpec": "forwardkit.config",
    "validate_experiment": "forwardkit.config",
    "load_experiment": "forwardkit.config",
    "resolve_config": "forwardkit.config",
    # registry
    "Registry": "forwardkit.registry",
    "Paper": "forwardkit.registry",
    "ComponentInfo": "forwardkit.registry",
    "hookimpl": "forwardkit.hookspecs",
    # errors
    "ForwardkitError": "forwardkit.errors",
    "ConfigError": "forwardkit.errors",
    "UnknownComponentError": "forwardkit.errors",
    "PluginError": "forwardkit.errors",
    # interfaces (these import torch)
    "TokenMixer": "forwardkit.interfaces",
    "ChannelMixer": "forwardkit.interfaces",
    "Model": "forwardkit.interfaces",
    "LearningRule": "forwardkit.interfaces",
    "Callback": "forwardkit.interfaces",
    "Adapter": "forwardkit.interfaces",
    "Compressor": "forwardkit.interfaces",
    "Dataset": "forwardkit.interfaces",
    "Analyzer": "forwardkit.interfaces",
    "RunContext": "forwardkit.interfaces",
}

__all__ = [
    "Adapter",
    "Analyzer",
    "Callback",
    "ChannelMixer",
    "ChannelMixerConfig",
    "ComponentConfig",
    "ComponentInfo",
    "ComponentSpec",
    "Compressor",
    "ConfigError",
    "Dataset",
    "Experiment",
    "ForwardkitError",
    "LearningRule",
    "Model",
    "MultiStageExperiment",
    "Paper",
    "PluginError",
    "Registry",
    "RunContext",
    "TokenMixer",
    "TokenMixerConfig",
    "Trainer",
    "TrainerConfig",
    "UnknownComponentError",
    "__version__",
    "build_model",
    "create",
    "functional",
    "get_registry",
    "hookimpl",
    "load_experiment",
    "resolve_config",
    "run",
    "run_stages",
    "validate_experiment",
]


def get_registry() -> Any:
    """The registry of the builtin and every installed plugin (discovered on first call)."""
    from forwardkit.registry import default_registry

    return default_registry()


__getattr__, __dir__ = lazy_names(__name__, _LAZY, __all__)


if TYPE_CHECKING:  # for type checkers and IDEs only
    from forwardkit.compose import build_model, create, functional
    from forwardkit.config import (
        ChannelMixerConfig,
        ComponentConfig,
        ComponentSpec,
        Experiment,
        TokenMixerConfig,
        TrainerConfig,
        load_experiment,
        resolve_config,
        validate_experiment,
    )
    from forwardkit.config.stages import MultiStageExperiment
    from forwardkit.engine import Trainer, run, run_stages
    from forwardkit.errors import ConfigError, ForwardkitError, PluginError, UnknownComponentError
    from forwardkit.hookspecs import hookimpl
    from forwardkit.interfaces import (
        Adapter,
        Analyzer,
        Callback,
        ChannelMixer,
        Compressor,
        Dataset,
        LearningRule,
        Model,
        RunContext,
        TokenMixer,
    )
    from forwardkit.registry import ComponentInfo, Paper, Registry
